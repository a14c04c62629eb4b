"""Data stage: street-view layers, overhead rasters, images, pair mining and the sample city."""

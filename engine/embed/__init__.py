"""Embedding stage: photos per point (GeoPackage + faiss), overhead rasters as an embedding
field (COG GeoTIFF + PCA preview), and locations (grid GeoTIFF or point GeoPackage).

Modules: points (embed_points, read_point_embeddings), raster (embed_raster), locations
(embed_locations), index (the faiss nearest-neighbour index), common (which encoder), shard
(torchrun: ranks split the work, rank 0 assembles), accel (the OpenVINO / ONNX Runtime CPU paths).
"""

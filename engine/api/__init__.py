"""GeoContrast from Python: the same stages as the CLI, with GeoDataFrames and xarray.

    from engine import api
    model = api.train("models/crossview_spatial.yaml", overrides=["train.steps=50"])
    photos = api.embed_points(model, "data/sample-city/streetview.gpkg")   # GeoDataFrame
    field = api.embed_raster(model, "data/sample-city/overhead/2023-07-01.tif")  # DataArray
    head = api.fit("perception_safety", embeddings=photos)
    safety = api.map_zero_shot(head, field)          # xarray.DataArray (band, y, x)

Each function writes the files the CLI writes when given `out` (else into a temporary
folder it removes) and returns them as objects: embedding fields and maps as
xarray.DataArray with the CRS and transform, point embeddings as a GeoDataFrame. The CLI
calls engine.api.commands, the file-level half of this API.
"""

from engine.api.frames import read_field, read_map_points, read_points
from engine.api.notebook import (
    FittedHead,
    embed_locations,
    embed_points,
    embed_raster,
    fit,
    map_fewshot,
    map_fused,
    map_location,
    map_similarity,
    map_time,
    map_zero_shot,
    train,
)

__all__ = ["FittedHead", "embed_locations", "embed_points", "embed_raster", "fit",
           "map_fewshot", "map_fused", "map_location", "map_similarity", "map_time",
           "map_zero_shot", "read_field", "read_map_points", "read_points", "train"]

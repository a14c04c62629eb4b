"""GeoContrast engine: geo-aware self-supervised image representations and maps.

Headless: pure Python + PyTorch + GDAL. Never imports QGIS.
"""

__version__ = "0.1.0"

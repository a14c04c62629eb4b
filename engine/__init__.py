"""GeoContrast engine: geo-aware self-supervised image representations and maps.

Headless: pure Python + PyTorch + GDAL. Never imports QGIS.
"""

__version__ = "0.1.0"

import logging as _logging

# faiss logs its CPU-feature probing at INFO ("Could not load library with AVX2 support"):
# chatter for a user, whichever engine module imports faiss first
_logging.getLogger("faiss.loader").setLevel(_logging.WARNING)

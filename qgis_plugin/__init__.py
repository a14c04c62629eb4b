"""GeoContrast QGIS plugin: a thin GUI and Processing provider over the engine subprocess.

Runs inside QGIS with stdlib + qgis.* + numpy only; torch lives in the engine's own venv.
"""


def classFactory(iface):
    """QGIS calls this to create the plugin for the given QgisInterface."""
    from .plugin import GeoContrastPlugin

    return GeoContrastPlugin(iface)

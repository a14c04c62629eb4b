"""The GeoContrast Processing provider and its algorithms (one per engine command)."""

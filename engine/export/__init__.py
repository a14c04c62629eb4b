"""Writing outputs: atomic files, styled GeoPackages, GeoTIFFs, quick-looks."""

"""Maps from embeddings: zero-shot (cross-view), location, similarity, few-shot and time maps.

Every map is written as a GeoTIFF (band 1 the value, band 2 its uncertainty), a styled
GeoPackage (grid cells, or the input polygons) and a PNG quick-look, all atomically.
The apply step streams the embedding field window by window (engine.maps.field).
"""

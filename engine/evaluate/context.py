"""What every benchmark task reads from the sample city, loaded once: photos (x, y, headings,
capture order), tracts, and a per-embedder cache of photo embeddings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)


@dataclass
class CityContext:
    """The sample city's photos and tracts, with photo embeddings cached per embedder key."""

    city: Path
    manifest: dict
    layer: Any                 # engine.data.points.StreetViewLayer
    xy: np.ndarray             # (N, 2) x, y metres in the city CRS
    heading: np.ndarray        # (N,) degrees, NaN unknown
    capture_rank: np.ndarray   # (N,) 0 = first capture at its location and heading
    tracts: Any                # GeoDataFrame of tract polygons
    heldout: np.ndarray | None = None  # (N,) bool: held-out places (identity tasks); None: all
    cache: dict[str, np.ndarray] = field(default_factory=dict)
    # frozen pretrained backbones' photo features, kept across training seeds (one pass)
    backbone_features: dict[tuple, np.ndarray] = field(default_factory=dict)
    chips: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # seed-free embedders' vectors of the overhead grid's chips (overhead_tasks.grid_features)
    grid_features: dict[tuple, np.ndarray] = field(default_factory=dict)
    # a view's stacking parts (fusion_tasks.view_rows), kept across training seeds
    view_parts: dict[str, Any] = field(default_factory=dict)

    @property
    def crs(self) -> Any:
        return self.layer.crs

    @property
    def identity_rows(self) -> np.ndarray:
        """(N,) bool: the photos place recognition and cross-view retrieval score."""
        return np.ones(len(self.xy), bool) if self.heldout is None else self.heldout

    def photo_embeddings(self, embedder: Any, key: str) -> np.ndarray:
        """(N, D) embeddings of every photo in layer order, computed once per `key`."""
        if key not in self.cache:
            paths = self.layer.frame["image"].astype(str).tolist()
            self.cache[key] = np.asarray(embedder.embed_photos(paths), dtype=np.float32)
        return self.cache[key]


def capture_ranks(location_id: np.ndarray, heading: np.ndarray,
                  captured_at: np.ndarray) -> np.ndarray:
    """Order (0, 1, ...) of each photo's capture time among photos of its location+heading."""
    import pandas as pd

    frame = pd.DataFrame({"loc": location_id, "head": np.round(np.nan_to_num(heading, nan=-1)),
                          "t": captured_at})
    return frame.groupby(["loc", "head"])["t"].rank(method="first").to_numpy(np.int64) - 1


def load_city(city: str | Path) -> CityContext:
    """Read city.json, the street-view layer and the tracts of a sample-city directory."""
    from engine.data.points import read_streetview
    from engine.maps.rows import read_polygons

    city = Path(city)
    manifest_path = city / "city.json"
    if not manifest_path.is_file():
        raise EngineError(f"{manifest_path} does not exist",
                          "generate the city first: python -m engine sample-city --out DIR")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    layer = read_streetview(city / "streetview.gpkg")
    if not layer.has_times:
        raise EngineError(f"{city / 'streetview.gpkg'} has no capture times",
                          "the benchmark's place-recognition task needs captured_at")
    frame = layer.frame
    heading = frame["heading"].to_numpy(np.float64)
    ranks = capture_ranks(frame["location_id"].to_numpy(), heading,
                          frame["captured_at"].to_numpy())
    tracts = read_polygons(city / "tracts.gpkg", "tracts")
    return CityContext(city=city, manifest=manifest, layer=layer, xy=layer.xy_in(layer.crs),
                       heading=heading, capture_rank=ranks, tracts=tracts)

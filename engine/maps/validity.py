"""A truth-free validity check for zero-shot and time maps.

The head keeps the places it was fitted on (photo points, or tract polygons) and their labels
(`attach_places` at fit time). After a map is written, the map itself is read at those places
(the pixel under each point, or the mean over each polygon) and scored against the labels:
Pearson r and R². No hidden truth is needed, only what the user gave. A map whose r is below
MIN_R (an anti-correlated map always is), or not significantly above 0 at few places
(one-sided, level ALPHA: r 0.36 at 9 tracts is noise), is marked unreliable: in the
engine's result, the GeoPackage layer metadata, the GeoTIFF tags and the PNG title. A head
fitted on the field itself, or on the location embeddings the map's field is made of (its
map read at its places would be in-sample), keeps its spatial block CV's out-of-fold
predictions there (`places_oof`), and those are scored instead for maps on that field's grid.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.export.atomic import atomic_path

log = logging.getLogger(__name__)

MIN_R = 0.3  # Pearson r at the labelled places below which a map is flagged unreliable
ALPHA = 0.05  # and r must be positive at this one-sided significance level (few places)
MIN_PLACES = 5  # fewer labelled places than this: not checked (r would mean nothing)
TAG_PREFIX = "GEOCONTRAST_VALIDITY_"
OOF_NOTE = ("out-of-fold predictions of the head's spatial block CV at the labelled places "
            "(the head was fitted on the embedding the map is made of)")


@dataclass(frozen=True)
class Validity:
    """The check's figures and verdict (`passed` is None when it could not be computed)."""

    passed: bool | None
    r: float | None
    r2: float | None
    n: int
    places: str  # "points" | "polygons" | "none"
    min_r: float = MIN_R
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        """A short text for titles: `check r=+0.62 (n=80)` and `UNRELIABLE` when it failed."""
        if self.passed is None:
            return f"check: {self.note or 'not computed'}"
        if self.r is None:  # failed without a correlation (a constant map, too few places)
            return f"UNRELIABLE: {self.note}"
        text = f"check r={self.r:+.2f} (n={self.n})"
        return text if self.passed else f"UNRELIABLE: {text} < {self.min_r:g}"


def grid_signature(tif: str | os.PathLike[str]) -> str:
    """A raster's grid (size, transform, CRS) as text: maps on a field share its grid."""
    import rasterio

    with rasterio.open(tif) as ds:
        t = ds.transform
        return (f"{ds.width}x{ds.height} " + ",".join(f"{v:.9g}" for v in tuple(t)[:6])
                + f" {ds.crs.to_string() if ds.crs else ''}")


def attach_places(head: Any, rows: Any, oof: np.ndarray | None = None,
                  oof_grid: str | None = None) -> None:
    """Store the labelled places of `rows` (LabelledRows) in a regression head's arrays, and
    `oof` (the head's out-of-fold predictions there), which the check scores instead of a map
    on `oof_grid` (the grid of the field the head was fitted on)."""
    if head.task != "regression":
        return
    if oof is not None:
        head.arrays["places_oof"] = np.asarray(oof, dtype=np.float64)
        head.meta["places_oof_grid"] = oof_grid
    head.arrays["places_xy"] = np.asarray(rows.xy, dtype=np.float64)
    head.arrays["places_y"] = np.asarray(rows.y, dtype=np.float64)
    head.meta["places_crs"] = _crs_text(rows.xy_crs)
    wkb = getattr(rows, "wkb", None)
    if wkb is not None:
        lengths = np.array([len(b) for b in wkb], dtype=np.int64)
        head.arrays["places_wkb"] = np.frombuffer(b"".join(wkb), dtype=np.uint8).copy()
        head.arrays["places_wkb_offsets"] = np.concatenate([[0], np.cumsum(lengths)])
    head.meta["places"] = "polygons" if wkb is not None else "points"


def _crs_text(crs: Any) -> str | None:
    if crs is None:
        return None
    to_wkt = getattr(crs, "to_wkt", None)
    return to_wkt() if callable(to_wkt) else str(crs)


def map_values_at_places(tif: str | os.PathLike[str], head: Any) -> np.ndarray | None:
    """Band 1 of the map at the head's places (NaN where the map has no value)."""
    a = head.arrays
    if "places_xy" not in a:
        return None
    crs = head.meta.get("places_crs")
    if "places_wkb" in a:
        import geopandas as gpd
        import shapely

        from engine.maps.outputs import polygon_means

        raw, off = a["places_wkb"].tobytes(), a["places_wkb_offsets"]
        geoms = shapely.from_wkb([raw[off[i]:off[i + 1]] for i in range(len(off) - 1)])
        polys = gpd.GeoDataFrame({"place": np.arange(len(geoms))}, geometry=geoms, crs=crs)
        means = polygon_means(tif, polys)
        first = [c for c in means.columns if c not in ("place", "geometry", "n_pixels")][0]
        return np.asarray(means[first], dtype=np.float64)
    from engine.maps.field import sample_field

    values, _ = sample_field(tif, a["places_xy"], crs)
    return np.asarray(values[:, 0], dtype=np.float64)


def check_map(tif: str | os.PathLike[str], head: Any, min_r: float = MIN_R) -> Validity:
    """Score the map at the head's labelled places against their labels."""
    from engine.heads.metrics import regression_metrics

    kind = str(head.meta.get("places", "none"))
    oof = head.arrays.get("places_oof")
    if oof is not None and head.meta.get("places_oof_grid") != grid_signature(tif):
        oof = None  # a map on another raster: its values at the places are out of sample
    pred = np.asarray(oof, np.float64) if oof is not None else map_values_at_places(tif, head)
    note = OOF_NOTE if oof is not None else ""
    if pred is None:
        return Validity(None, None, None, 0, "none", min_r,
                        "the head keeps no labelled places (fitted before this check existed)")
    y = np.asarray(head.arrays["places_y"], dtype=np.float64)
    ok = np.isfinite(pred) & np.isfinite(y)
    n = int(ok.sum())
    if n < MIN_PLACES or np.ptp(pred[ok]) == 0 or np.ptp(y[ok]) == 0:
        return Validity(False, None, None, n, kind, min_r,
                        f"only {n} labelled places with a map value, or a constant map")
    r = float(np.corrcoef(pred[ok], y[ok])[0, 1])
    score = float(regression_metrics(y[ok], pred[ok])["r2"])
    min_r = max(min_r, significant_r(n))
    passed = bool(r >= min_r)
    if not passed:
        log.warning("map %s fails its validity check: r=%.3f at %d labelled %s (< %g)",
                    tif, r, n, kind, min_r)
    return Validity(passed, r, score, n, kind, min_r, note)


def significant_r(n: int, alpha: float = ALPHA) -> float:
    """The smallest Pearson r significantly above 0 (one-sided, level `alpha`) at n places:
    t / sqrt(n - 2 + t²), t the Student quantile with n - 2 degrees of freedom."""
    from scipy.stats import t as student

    q = float(student.ppf(1.0 - alpha, n - 2))
    return q / float(np.sqrt(n - 2 + q * q))


def tag_geotiff(tif: str | os.PathLike[str], validity: Validity) -> None:
    """Write the check into the GeoTIFF's metadata tags (atomically: a tagged copy, laid out
    as a Cloud Optimized GeoTIFF again, replaces the file). The tags go onto a VRT of the
    map, never into a TIFF: updating a COG in place rewrites its IFD, and GDAL then warns
    that the layout is broken although the copy made from it is a COG again."""
    import rasterio
    import rasterio.shutil

    tags = {f"{TAG_PREFIX}{k.upper()}": ("" if v is None else str(v))
            for k, v in validity.to_dict().items()}
    tif = Path(tif)
    with atomic_path(tif) as out:
        stage = out.with_name(out.stem + ".tags.vrt")
        try:
            rasterio.shutil.copy(tif, stage, driver="VRT")
            with rasterio.open(stage, "r+") as ds:
                ds.update_tags(**tags)
            rasterio.shutil.copy(stage, out, driver="COG", COMPRESS="DEFLATE")
        finally:
            stage.unlink(missing_ok=True)


def read_geotiff_validity(tif: str | os.PathLike[str]) -> dict[str, str]:
    """The check's tags of a map GeoTIFF ({} when it has none)."""
    import rasterio

    with rasterio.open(tif) as ds:
        return {k[len(TAG_PREFIX):].lower(): v for k, v in ds.tags().items()
                if k.startswith(TAG_PREFIX)}

"""The pipeline's map stages for one encoder (trained or random): embed -> fit heads ->
zero-shot maps -> score. The benchmark's map-fidelity task and the demo both run these.

Each stage calls the engine's own functions (engine.embed, engine.maps, map_score) with
plain arguments, exactly as the CLI commands do.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.defaults import DEVICE
from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC, Settings
from engine.export.atomic import atomic_path
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

STAMP = "embed.json"


def latest_overhead(city: Path) -> Path:
    """The overhead GeoTIFF of the latest date (names carry YYYY-MM-DD)."""
    from engine.errors import EngineError

    found = sorted((city / "overhead").glob("overhead_*.tif"))
    if not found:
        raise EngineError(f"{city / 'overhead'} holds no overhead_YYYY-MM-DD.tif",
                          "regenerate the sample city (python -m engine sample-city)")
    return found[-1]


def map_image_size(settings: Settings) -> int:
    """The photo size the map recipe's encoders embed photos at (engine.evaluate.recipes)."""
    from engine.evaluate.recipes import recipe_image_size

    return recipe_image_size(settings.map_recipe, settings)


def _stamp_text(model_key: str, settings: Settings, raster: Path, image_size: int,
                photos: bool) -> str:
    return json.dumps({"model": model_key, "image_size": int(image_size),
                       "chip_px": settings.chip_px, "stride_px": settings.stride_px,
                       "raster": str(raster), "photos": photos}, sort_keys=True)


def photos_embedded(settings: Settings) -> bool:
    """Whether the map stage embeds the photos: always for heads fitted on them, else as
    Settings.map_photos says (heads fitted on the overhead field take only the photos'
    places and labels)."""
    return settings.map_head != "overhead" or settings.map_photos


def file_digest(path: Path) -> str:
    """sha256 of a file (the weights identify a trained model)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def embed_city(model: Any, model_key: str, city: Path, out: Path, settings: Settings,
               progress: Progress = no_progress, image_size: int | None = None) -> dict:
    """Photo embeddings (GPKG + faiss) at `image_size` px (default: the map recipe's; none
    where photos_embedded says so: "photos" is then None) and the overhead embedding field of
    the latest date; reused when `embed.json` shows the same model and sizes."""
    from engine.data.points import read_streetview
    from engine.embed.points import embed_points
    from engine.embed.raster import embed_raster

    raster = latest_overhead(city)
    size = map_image_size(settings) if image_size is None else int(image_size)
    with_photos = photos_embedded(settings)
    photos, field = out / "photos.gpkg", out / "overhead_field.tif"
    stamp, text = out / STAMP, _stamp_text(model_key, settings, raster, size, with_photos)
    if (photos.is_file() or not with_photos) and field.is_file() and stamp.is_file() and \
            stamp.read_text(encoding="utf-8") == text:
        log.info("reusing embeddings in %s", out)
        return {"photos": str(photos) if with_photos else None, "field": str(field),
                "reused": True}
    if stamp.is_file():
        stamp.unlink()
    if with_photos:
        layer = read_streetview(city / "streetview.gpkg")
        embed_points(model, layer, photos, batch_size=64, image_size=size,
                     progress=progress, num_workers=0, device=DEVICE)
    embed_raster(model, raster, field, chip_px=settings.chip_px, stride_px=settings.stride_px,
                 encoder="overhead", dtype="float16", batch_size=128, progress=progress,
                 device=DEVICE)
    with atomic_path(stamp) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return {"photos": str(photos) if with_photos else None, "field": str(field),
            "reused": False}


def fit_heads(photos: Path | None, city: Path, heads_dir: Path, settings: Settings,
              progress: Progress = no_progress, field: Path | None = None
              ) -> dict[str, dict]:
    """Ridge heads with spatial CV: perception per photo, socioeconomics per tract; on the
    photo embeddings, or (Settings.map_head "overhead") on the overhead `field` at the same
    places (the city's photo layer gives them where `photos` is None), keeping their
    out-of-fold predictions for the maps' validity check."""
    from engine.maps.fit import fit_rows
    from engine.maps.fusion import overhead_rows
    from engine.maps.rows import place_rows, point_rows, polygon_rows

    overhead = _overhead_head(settings, field)
    out: dict[str, dict] = {}
    tracts = city / "tracts.gpkg"
    for target in PERCEPTION + SOCIOECONOMIC:
        tract = target in SOCIOECONOMIC
        if photos is None:
            rows = place_rows(city / "streetview.gpkg", target, tracts if tract else None)
        else:
            rows = (polygon_rows(tracts, target, embeddings=photos) if tract
                    else point_rows(photos, target))
        if overhead:
            rows = overhead_rows(rows, field)
        res = fit_rows(rows, heads_dir / target, "ridge", target,
                       settings.tract_block_m if tract else settings.point_block_m,
                       settings.tract_folds if tract else settings.point_folds,
                       settings.seed, progress,
                       oof_field=field if overhead else None)
        out[target] = {**res, "level": "tract" if tract else "photo",
                       "fitted_on": settings.map_head}
    return out


def _overhead_head(settings: Settings, field: Path | None) -> bool:
    """Whether the heads are fitted on the overhead field (Settings.map_head)."""
    from engine.errors import EngineError
    from engine.evaluate.settings import MAP_HEADS

    if settings.map_head not in MAP_HEADS:
        raise EngineError(f"unknown map head {settings.map_head!r}",
                          f"set Settings.map_head to one of {', '.join(MAP_HEADS)}")
    if settings.map_head == "overhead" and field is None:
        raise EngineError("an overhead-fitted map head needs the overhead field",
                          "pass field= (the embed_city field) to fit_heads")
    return settings.map_head == "overhead"


def zero_shot_maps(heads_dir: Path, field: Path, city: Path, maps_dir: Path,
                   progress: Progress = no_progress, align: bool = True,
                   quicklook: bool = True) -> dict[str, dict]:
    """Zero-shot maps of every head over the overhead field (+ per tract for socioeconomics);
    `align` False for heads fitted on the field itself (no modality gap to bridge); PNG
    quick-looks unless `quicklook` is False."""
    from engine.maps.rows import read_polygons
    from engine.maps.zero_shot import zero_shot_map

    tracts = read_polygons(city / "tracts.gpkg")
    out = {}
    for target in PERCEPTION + SOCIOECONOMIC:
        polys = tracts if target in SOCIOECONOMIC else None
        out[target] = zero_shot_map(heads_dir / target, field, maps_dir, target, polys,
                                    "tract_id" if polys is not None else None, align, progress,
                                    quicklook=quicklook)
    return out


def score_maps(maps_dir: Path, city: Path, settings: Settings) -> dict[str, dict]:
    """Pearson r of each map vs truth/<target>.tif on photo-free cells."""
    from engine.data.points import read_streetview
    from engine.evaluate.map_score import map_vs_truth

    layer = read_streetview(city / "streetview.gpkg", check_images=False)
    xy = layer.xy_in(layer.crs)
    out = {}
    for target in PERCEPTION + SOCIOECONOMIC:
        truth = city / "truth" / f"{target}.tif"
        if not truth.is_file():
            log.warning("no truth raster %s: %s not scored", truth, target)
            continue
        out[target] = map_vs_truth(maps_dir / f"{target}.tif", truth, xy, layer.crs,
                                   settings.min_dist_m)
    return out


def run_encoder(model: Any, model_key: str, city: Path, out: Path, settings: Settings,
                progress: Progress = no_progress, image_size: int | None = None) -> dict:
    """Embed (photos at `image_size` px, default the map recipe's), fit, map and score with
    one encoder; outputs under `out`."""
    emb = embed_city(model, model_key, city, out / "embeddings", settings, progress,
                     image_size)
    heads = fit_heads(None if emb["photos"] is None else Path(emb["photos"]), city,
                      out / "heads", settings, progress, Path(emb["field"]))
    maps = zero_shot_maps(out / "heads", Path(emb["field"]), city, out / "maps", progress,
                          settings.map_head != "overhead", settings.quicklooks)
    scores = score_maps(out / "maps", city, settings)
    return {"embeddings": emb, "heads": heads, "maps": maps, "scores": scores}


def mean_r(scores: dict[str, dict], targets: tuple[str, ...]) -> float:
    """Mean photo-free r over `targets` that were scored."""
    vals = [scores[t]["r_photo_free"] for t in targets if t in scores]
    return float(np.nanmean(vals)) if vals else float("nan")

"""Bands and radiometry of an overhead raster: which bands, how raw values become model input.

A `Radiometry` is the contract between a raster and a model. Training measures it and writes it
into the model's config.yaml (`input:`); embed-raster rebuilds it for the raster at hand from
the model's record and refuses a mismatch (band count, scaling) instead of clipping.

Scalings:
* "stats": each raster standardised per band by its own mean / sd of valid pixels (measured on
  a decimated read). Linear in the raw values, so 8-bit, 16-bit and float versions of one scene
  give the same model input. The default for overhead-only training.
* "tags": raw * scale + offset from the raster's scale/offset tags (or `--scale`), then
  standardised by the *training* raster's mean / sd (physical units shared across scenes).
* "uint8": raw (times `--scale` when given) / 255, ImageNet mean/std: the RGB models trained on
  8-bit rasters. A raster that is not 8-bit is refused without `--scale`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)

SCALINGS: tuple[str, ...] = ("stats", "tags", "uint8")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
STATS_SIDE = 1024  # statistics are measured on a read decimated to at most this many px a side
EXACT_INTEGERS = ("uint8", "int8", "uint16", "int16")  # integer types exact in float32
TAGS_TOLERANCE_SD = 6.0  # "tags": a band whose mean is this many training sds away is refused


@dataclass
class Radiometry:
    """Bands (1-based raster indices) and the affine map raw value -> model input per band."""

    bands: list[int]
    scaling: str = "stats"
    names: list[str] = field(default_factory=list)   # band descriptions (matching by name)
    scale: list[float] | None = None                 # raw * scale + offset, per band
    offset: list[float] | None = None
    mean: list[float] = field(default_factory=list)  # of scaled values, per band
    std: list[float] = field(default_factory=list)
    gsd_m: float | None = None                       # ground sampling distance (metres/px)
    dtype: str = ""                                  # the raster's data type (information)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Radiometry:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def count(self) -> int:
        return len(self.bands)

    def describe(self) -> str:
        names = [n or f"band {b}" for b, n in zip(self.bands, self.names or [""] * self.count,
                                                   strict=False)]
        return f"{self.count} bands ({', '.join(names)}), scaling {self.scaling}"

    def normalise(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(C,H,W) raw values of `bands` + (H,W) valid -> float32 model input.

        Raw values become float32, then raw * scale + offset; "uint8": / 255, minus the
        ImageNet mean, over its sd, invalid pixels black (the scaled raw value 0, as the 8-bit
        chips always were); otherwise minus the mean over the sd, invalid pixels 0. A
        non-finite result is 0. Computed in place in one output array: the reader thread of
        embed-raster spent most of its time here when every step made a new array (3 bands of
        2,048 x 2,048 px: 136 -> 39 ms), with the same float32 operations in the same order,
        so the values are bit for bit those of the step-by-step formula. Raw 8 and 16-bit
        integers (OverheadRaster.read_window(raw=True)) skip the non-finite pass when the
        formula is finite for every value of their type."""
        ok = np.asarray(valid, dtype=bool)
        x = np.asarray(data)
        if x.shape[0] != self.count:
            raise EngineError(f"{x.shape[0]} bands given for a radiometry of {self.count}",
                              "select the bands with --bands")
        out = np.empty(x.shape, dtype=np.float32)
        np.copyto(out, x, casting="unsafe")
        self._affine(out)
        # 8/16-bit raw values: the formula is finite for all of them (checked once on every
        # possible value) or the isfinite pass below is needed; floats always need it
        if x.dtype.name not in EXACT_INTEGERS or not self._finite_for(x.dtype):
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(out)
            if bad.any():
                out[bad] = 0.0
        if not ok.all():
            np.copyto(out, self.invalid_value(), where=~ok[None])
        return out

    def _finite_for(self, dtype: np.dtype) -> bool:
        """Whether the formula is finite for every value of an 8 or 16-bit integer type
        (exact in float32), kept per dtype and radiometry (fields may change after)."""
        key = (np.dtype(dtype).str, self.scaling, repr((self.scale, self.offset, self.mean,
                                                         self.std)))
        cache = self.__dict__.setdefault("_finite", {})
        if key not in cache:
            info = np.iinfo(dtype)
            values = np.arange(info.min, info.max + 1, dtype=np.float32)
            table = np.ascontiguousarray(np.broadcast_to(values, (self.count, len(values))))
            self._affine(table)
            cache[key] = bool(np.isfinite(table).all())
        return cache[key]

    def _affine(self, x: np.ndarray) -> None:
        """raw -> model input on float32 (C, ...) in place (the formula of `normalise`)."""
        if self.scale is not None:
            np.multiply(x, _per_band(self.scale, x), out=x)
            np.add(x, _per_band(self.offset or [0.0] * self.count, x), out=x)
        self._standardise(x)

    def _standardise(self, x: np.ndarray) -> None:
        """Scaled values -> model input in place: "uint8": / 255 and the ImageNet mean / sd;
        otherwise the radiometry's mean / sd."""
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            if self.scaling == "uint8":
                np.divide(x, np.float32(255.0), out=x)
                mean, std = IMAGENET_MEAN, IMAGENET_STD
            else:
                mean, std = self.mean, self.std
            np.subtract(x, _per_band(mean, x), out=x)
            np.divide(x, _per_band(std, x), out=x)

    def invalid_value(self) -> np.ndarray:
        """(C, 1, 1) float32 model input of an invalid pixel: "uint8": the scaled raw value 0
        through the formula (black); otherwise 0."""
        fill = np.zeros((self.count, 1, 1), dtype=np.float32)
        if self.scaling == "uint8":
            self._standardise(fill)
            fill[~np.isfinite(fill)] = 0.0
        return fill


def _per_band(values: Any, x: np.ndarray) -> np.ndarray:
    """Per-band float32 constants shaped to broadcast over `x` (C, ...)."""
    return np.asarray(values, np.float32).reshape((-1,) + (1,) * (x.ndim - 1))


def band_descriptions(path: str | os.PathLike[str]) -> list[str]:
    """Each band's description (or colour interpretation name when it has none), lower case."""
    import rasterio

    with rasterio.open(path) as src:
        out = []
        for i, desc in enumerate(src.descriptions):
            ci = src.colorinterp[i].name if src.colorinterp else ""
            out.append((desc or ("" if ci in ("undefined", "gray") else ci)).strip().lower())
        return out


def parse_bands(spec: str | list | None, path: str | os.PathLike[str]) -> list[int] | None:
    """`--bands` "4,3,2" (1-based indices) or "nir,red,green" (band descriptions) -> indices."""
    if spec is None or spec == "" or spec == []:
        return None
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else map(str, spec))]
    descs = band_descriptions(path)
    out = []
    for item in items:
        if item.isdigit():
            idx = int(item)
            if not 1 <= idx <= len(descs):
                raise EngineError(f"band {idx} does not exist: {path} has {len(descs)} band(s)",
                                  f"--bands takes 1..{len(descs)} or band names {descs}")
            out.append(idx)
            continue
        hits = [i + 1 for i, d in enumerate(descs) if d == item.lower()] or \
            [i + 1 for i, d in enumerate(descs) if item.lower() in d.split() or
             d.endswith(item.lower())]
        if len(hits) != 1:
            raise EngineError(f"band name {item!r} matches {len(hits)} bands of {path}",
                              f"--bands takes indices (e.g. 4,3,2) or one of {descs}")
        out.append(hits[0])
    return out


def _tags_scale(src: Any, bands: list[int]) -> tuple[list[float], list[float]] | None:
    scales = [src.scales[b - 1] for b in bands]
    offsets = [src.offsets[b - 1] for b in bands]
    if all(s == 1.0 for s in scales) and all(o == 0.0 for o in offsets):
        return None
    return [float(s) for s in scales], [float(o) for o in offsets]


def gsd_m(path: str | os.PathLike[str]) -> float | None:
    """Pixel size in metres (the mean of x and y) of a projected raster, None in degrees."""
    import rasterio

    from engine.data.crs import to_pyproj

    with rasterio.open(path) as src:
        if src.crs is None or to_pyproj(src.crs).is_geographic:
            return None
        unit = to_pyproj(src.crs).axis_info[0].unit_conversion_factor
        return float((abs(src.res[0]) + abs(src.res[1])) / 2 * unit)


ZERO_FRAME_SHARE = 0.05  # pixels 0 in every band, no nodata declared: probably a fill frame


def band_stats(path: str | os.PathLike[str], bands: list[int],
               scale: tuple[list[float], list[float]] | None = None
               ) -> tuple[list[float], list[float]]:
    """Per-band mean / sd of valid (scaled) pixels, from a read decimated to STATS_SIDE px."""
    import rasterio

    from engine.data.rasters import read_bands

    with rasterio.open(path) as src:
        f = max(1.0, max(src.width, src.height) / STATS_SIDE)
        shape = (len(bands), max(1, int(src.height / f)), max(1, int(src.width / f)))
        data = read_bands(src, bands, out_shape=shape[1:])
        masks = src.read_masks(bands, out_shape=shape) > 0
        declared = any(v is not None for v in src.nodatavals) or src.mask_flag_enums[0] != [
            rasterio.enums.MaskFlags.all_valid]
    ok = masks.all(axis=0) & np.isfinite(data).all(axis=0)
    zeros = float((ok & (data == 0).all(axis=0)).mean())
    if not declared and zeros >= ZERO_FRAME_SHARE:  # e.g. a Landsat scene's fill frame
        log.warning("%.1f %% of %s's pixels are 0 in every band and the raster declares no "
                    "nodata: they count as data (statistics, chips); if they are fill, "
                    "declare it first (gdal_edit.py -a_nodata 0 FILE, or a VRT with "
                    "gdal_translate -of VRT -a_nodata 0)", 100 * zeros, path)
    if ok.sum() < 2:
        raise EngineError(f"{path} has fewer than two valid pixels in bands {bands}",
                          "check the raster's nodata value and --bands")
    vals = data[:, ok].astype(np.float64)
    if scale is not None:
        vals = vals * np.asarray(scale[0])[:, None] + np.asarray(scale[1])[:, None]
    return vals.mean(axis=1).tolist(), np.maximum(vals.std(axis=1), 1e-12).tolist()


def parse_scale(text: str | float, flag: str, example: str) -> tuple[float, float]:
    """(scale, offset) of "SCALE" or "SCALE,OFFSET"; EngineError naming `flag` otherwise."""
    try:
        parts = [float(v) for v in str(text).split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not parts[0] or not np.isfinite(parts).all():
        raise EngineError(f"{flag}{text!r} is not SCALE or SCALE,OFFSET", example)
    return parts[0], parts[1] if len(parts) == 2 else 0.0


def _scale_pair(path: str | os.PathLike[str], bands: list[int],
                user_scale: str | float | None) -> tuple[list[float], list[float]] | None:
    """`--scale S` or `S,O` (all bands), else the raster's scale/offset tags, else None."""
    import rasterio

    if user_scale is not None:
        scale, offset = parse_scale(user_scale, "--scale ",
                                    "e.g. --scale 0.0000275,-0.2 (Landsat C2) or --scale 0.00392")
        return [scale] * len(bands), [offset] * len(bands)
    with rasterio.open(path) as src:
        return _tags_scale(src, bands)


def measure(path: str | os.PathLike[str], bands: list[int] | None = None,
            scaling: str = "stats", user_scale: str | float | None = None) -> Radiometry:
    """The radiometry of `path` for training: bands (default all data bands), statistics."""
    import rasterio

    if scaling not in SCALINGS:
        raise EngineError(f"unknown scaling {scaling!r}", f"use one of {', '.join(SCALINGS)}")
    with rasterio.open(path) as src:
        if bands is None:
            from rasterio.enums import ColorInterp

            bands = [i + 1 for i, ci in enumerate(src.colorinterp) if ci != ColorInterp.alpha]
        dtype = str(src.dtypes[bands[0] - 1])
    descs = band_descriptions(path)
    names = [descs[b - 1] for b in bands]
    scale = _scale_pair(path, bands, user_scale)
    if scaling == "tags" and scale is None:
        raise EngineError(f"{path} has no scale/offset tags for scaling 'tags'",
                          "pass --scale SCALE[,OFFSET] or use scaling stats")
    if scaling == "uint8":
        if len(bands) != len(IMAGENET_MEAN):
            raise EngineError(f"scaling uint8 (the ImageNet RGB statistics) takes 3 bands, "
                              f"and {len(bands)} were chosen from {path}",
                              "use scaling stats (embed-raster --scaling stats; training: "
                              "data.scaling=stats), or choose 3 RGB bands")
        _check_uint8(path, dtype, scale)
        mean, std = [], []
    else:
        mean, std = band_stats(path, bands, scale)
    return Radiometry(bands=list(bands), scaling=scaling, names=names,
                      scale=None if scale is None else scale[0],
                      offset=None if scale is None else scale[1],
                      mean=mean, std=std, gsd_m=gsd_m(path), dtype=dtype)


def _check_uint8(path: str | os.PathLike[str], dtype: str, scale: Any) -> None:
    if dtype != "uint8" and scale is None:
        raise EngineError(
            f"the model expects 8-bit values (0..255) but {path} is {dtype}",
            "pass --scale (e.g. --scale 0.00389 for 16-bit 0..65535, --scale 255 for "
            "float 0..1), or --scaling stats, or use a model trained with scaling stats")


def to_uint8_scale(paths: list[str], user_scale: str | float | None
                   ) -> tuple[float, float] | None:
    """For models that see 8-bit RGB chips (the photo recipes' overhead side): (scale,
    offset) mapping the rasters' values to 0..255 (`data.scale`), or None when they are
    8-bit already. A raster of another type without `data.scale` is refused: its values
    would be clipped to 255, a 16-bit scene almost white."""
    import rasterio

    scale = None if user_scale is None else parse_scale(
        user_scale, "data.scale=", "e.g. data.scale=0.00389 (16-bit 0..65535 to 0..255)")
    for path in paths:
        with rasterio.open(path) as src:
            dtype = str(src.dtypes[0])
        if dtype != "uint8" and scale is None:
            raise EngineError(
                f"this recipe trains on 8-bit RGB overhead chips (0..255) but {path} is {dtype}",
                "give data.scale=SCALE[,OFFSET] mapping its values to 0..255 (e.g. "
                "data.scale=0.00389 for 16-bit 0..65535, data.scale=255 for reflectance "
                "0..1), or an 8-bit RGB export of the scene; embed it later with the same "
                "--scale")
    return scale


def legacy(count: int = 3) -> dict[str, Any]:
    """The record of a model without one: 8-bit RGB (bands 1-3, or band 1 as grey)."""
    return {"bands": [1, 2, 3][:count], "scaling": "uint8"}


def for_raster(expected: dict[str, Any] | None, path: str | os.PathLike[str],
               bands: str | list | None = None, scaling: str | None = None,
               user_scale: str | float | None = None, in_chans: int = 3) -> Radiometry:
    """The radiometry to embed `path` with, for a model whose record is `expected`.

    Bands: `bands` (--bands), else the model's band names when the raster has them all, else
    the model's band indices. Refuses (EngineError) a band count or scaling that does not fit.
    """
    import rasterio

    exp = dict(expected or legacy(in_chans))
    with rasterio.open(path) as src:
        n_raster = src.count
    chosen = parse_bands(bands, path)
    want = len(exp.get("bands") or []) or in_chans
    if chosen is None:
        chosen = _default_bands(exp, path, n_raster, want)
    if len(chosen) != want:
        named = exp.get("names") or []
        raise EngineError(
            f"the model expects {want} bands{' (' + ', '.join(named) + ')' if any(named) else ''}"
            f" but {len(chosen)} were selected from {path} ({n_raster} band(s))",
            f"pass --bands with {want} band indices or names, or use a model trained on "
            f"{len(chosen)} bands")
    scaling = scaling or exp.get("scaling", "stats")
    if scaling not in SCALINGS:
        raise EngineError(f"unknown scaling {scaling!r}", f"use --scaling {' or '.join(SCALINGS)}")
    got = measure(path, chosen, scaling, user_scale)
    _warn_band_order(exp.get("names") or [], got.names, path)
    if scaling == "tags":
        _check_tags(exp, got, path)
        got.mean, got.std = list(exp["mean"]), list(exp["std"])
    return got


def _warn_band_order(trained: list[str], chosen: list[str], path: Any) -> None:
    """Warn when a chosen band's name differs from the name of the band the model took in
    that place (e.g. --bands 4,3,2,1 on a model trained on red, green, blue, nir: the
    near-infrared band would be read as red)."""
    clash = [(t, c) for t, c in zip(trained, chosen, strict=False) if t and c and t != c]
    if clash:
        log.warning("the bands chosen from %s are named %s, but the model was trained on %s "
                    "in that order: check --bands", path, [c or "?" for c in chosen],
                    [t or "?" for t in trained])


def _default_bands(exp: dict[str, Any], path: Any, n_raster: int, want: int) -> list[int]:
    names = [n for n in exp.get("names") or [] if n]
    descs = band_descriptions(path)
    if names and len(names) == want and all(descs.count(n) == 1 for n in names):
        return [descs.index(n) + 1 for n in names]
    idx = list(exp.get("bands") or range(1, want + 1))
    if exp.get("scaling") == "uint8" and n_raster == 1:
        return [1] * want  # one grey band repeated, as the 8-bit RGB models always took it
    if max(idx) > n_raster:
        raise EngineError(
            f"the model expects {want} bands (indices {idx}) but {path} has {n_raster}",
            f"pass --bands with {want} of this raster's bands, or train a model on "
            f"{n_raster}-band rasters")
    return idx


def _check_tags(exp: dict[str, Any], got: Radiometry, path: Any) -> None:
    if not exp.get("mean"):
        raise EngineError("the model's scaling 'tags' has no recorded statistics",
                          "re-train the model, or pass --scaling stats")
    for k, (m_got, m_exp, s_exp) in enumerate(zip(got.mean, exp["mean"], exp["std"],
                                                   strict=True)):
        if abs(m_got - m_exp) > TAGS_TOLERANCE_SD * s_exp:
            raise EngineError(
                f"band {got.bands[k]} of {path} has mean {m_got:.4g} after scaling, the model "
                f"was trained on {m_exp:.4g} +- {s_exp:.4g}: the scaling does not match",
                "check --scale (or the raster's scale/offset tags), or use --scaling stats")

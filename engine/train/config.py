"""Training configuration: nested dataclasses loaded from a YAML recipe plus key=value overrides.

Validated on load: an unknown key names itself and the allowed keys; a bad value names the
key and the allowed values. Relative paths (data.streetview, data.overhead, output) resolve
against the project root (engine.paths), never the cwd, so a recipe means the same thing
wherever `python -m engine.train` is started from.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.data.imagery_options import (
    DEFAULT_VIEW_FOV,
    PANORAMA_MODES,
    VIEW_REFERENCES,
    headings_text,
)
from engine.defaults import CHIP_PX, DEVICE, DEVICES, IMAGE_PX, TRAIN_BATCH, TRAIN_STEPS
from engine.errors import EngineError
from engine.models import yaml_text
from engine.models.photo_input import DEFAULT_RESIZE, RESIZE_MODES
from engine.models.recipes import recipe_path, recipes_dir
from engine.paths import project_root, resolve_path


def _choices(*values: str, default: str) -> Any:
    return field(default=default, metadata={"choices": values})


def _min(value: float, default: Any) -> Any:
    return field(default=default, metadata={"min": value})


@dataclass
class PairsConfig:
    """Positive-pair thresholds (see engine.data.pairs.PairParams)."""

    place_radius_m: float = _min(0, 5.0)
    temporal_heading_deg: float = _min(0, 30.0)
    temporal_min_days: float = _min(0, 30.0)
    spatial_radius_m: float = _min(0, 60.0)
    spatial_window_days: float = _min(0, 60.0)
    exclude_same_sequence: bool = False  # no positives within one drive (field sequence_id)


@dataclass
class DataConfig:
    """Where the photos and overhead rasters are, and how big the model inputs are.

    streetview null: overhead-only training on the rasters alone (engine.train.raster_data),
    with their bands (`bands`: "4,3,2" or "nir,red,green"; default all), `scaling` (stats,
    tags or uint8; engine.data.radiometry) and chips of `chip_m` metres (or chip_size px).
    """

    streetview: str | None = "data/sample-city/streetview.gpkg"
    layer: str | None = None
    overhead: list[str] = field(default_factory=lambda: ["data/sample-city/overhead/*.tif"])
    overhead_dates: list[str] | None = None  # one per raster; default: YYYY-MM-DD in names
    image_size: int = _min(8, IMAGE_PX)
    chip_size: int = _min(8, CHIP_PX)  # overhead chip, pixels around the photo
    chip_res_m: float | None = None  # chip pixel size (metres); None: the raster's own grid
    clusters: int = _min(2, 16)  # k-means clusters on x,y for the geo pretext task
    bands: str | None = None  # overhead-only: band indices or descriptions; None: all
    scaling: str = _choices("stats", "tags", "uint8", default="stats")
    scale: str | None = None  # "SCALE[,OFFSET]" applied to raw values (default: raster tags)
    chip_m: float | None = None  # overhead-only: chip side in metres (else chip_size px)
    anchors: int = _min(2, 4096)  # overhead-only: chip centres drawn among valid pixels
    max_shift_px: int = _min(0, 3)  # overhead-only: random shift between two views
    cache_images: bool = True
    resize: str = _choices(*RESIZE_MODES, default=DEFAULT_RESIZE)  # any photo size -> square
    panoramas: str = _choices(*PANORAMA_MODES, default="auto")  # cut 360° photos into views
    view_headings: str = headings_text()  # degrees, comma-separated, e.g. "0,90,180,270"
    view_fov: float = _min(1, DEFAULT_VIEW_FOV)
    view_reference: str = _choices(*VIEW_REFERENCES, default="pano")
    pairs: PairsConfig = field(default_factory=PairsConfig)


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping."""

    steps: int = _min(1, TRAIN_STEPS)
    batch_size: int = _min(2, TRAIN_BATCH)
    lr: float = _min(0, 1e-3)
    weight_decay: float = _min(0, 1e-4)
    seed: int = 0
    workers: int = _min(0, 0)
    prefetch: bool = True  # load + augment the next batches in a thread during each step
    device: str = _choices(*DEVICES, default=DEVICE)
    log_every: int = _min(1, 10)
    checkpoint_every: int = _min(0, 100)  # 0: only at the end
    write_digest: bool = False  # each rank writes weights_digest.rank<R>.txt (DDP checks)
    # what trains (engine.train.regimes): full | partial (last blocks, BN stats frozen) |
    # frozen (backbone features cached on disk once; only adapters/encoders train)
    regime: str = _choices("full", "partial", "frozen", default="full")
    trainable_blocks: int = _min(1, 2)  # partial: backbone blocks trained, from the end
    cached_views: int = _min(1, 4)  # frozen: views cached per photo / chip (1 plain + augmented)
    feature_cache: str = "data/feature-cache"  # frozen: cache folder (relative: project root)


@dataclass
class Config:
    """A whole training recipe."""

    name: str = "geocontrast"
    output: str | None = None  # default: models/<name>
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=dict)  # GeoModel config (engine.nn.config)
    objectives: dict[str, dict[str, Any]] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    # written by overhead-only training: bands, scaling, statistics, gsd_m, chip (the raster
    # record embed-raster checks, engine.data.radiometry); None for photo-based recipes
    input: dict[str, Any] | None = None

    @property
    def overhead_only(self) -> bool:
        """True when the recipe trains on rasters alone (data.streetview: null)."""
        return not self.data.streetview

    def output_dir(self) -> Path:
        """The run directory: `output`, or models/<name> under the project root."""
        return resolve_path(self.output or f"models/{self.name}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _number(key: str, value: Any) -> float:
    """A float key's value as a finite float (`1e-3` is read as a number: yaml_text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise EngineError(f"config key {key}={value!r} is not a number",
                          "allowed values: finite numbers, e.g. 0.001 or 1e-3")
    return float(value)


def _check_value(key: str, hint: Any, value: Any, meta: typing.Mapping[str, Any]) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise EngineError(f"config key {key}={value!r} is not a boolean",
                              "allowed values: true, false")
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EngineError(f"config key {key}={value!r} is not an integer",
                              "allowed values: whole numbers, e.g. 50")
    elif hint is float:
        value = _number(key, value)
    elif hint is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # data.scale=0.01, data.bands=4: numbers written as text
        if not isinstance(value, str):
            raise EngineError(f"config key {key}={value!r} is not text", "quote it in YAML")
    elif origin is list:
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise EngineError(f"config key {key}={value!r} is not a list of text",
                              "write [a, b] or one value")
    elif origin is dict and not isinstance(value, dict):
        raise EngineError(f"config key {key}={value!r} is not a mapping",
                          "write it as `key: value` lines in YAML")
    if "choices" in meta and value not in meta["choices"]:
        raise EngineError(f"config key {key}={value!r} is not allowed",
                          f"allowed values: {', '.join(meta['choices'])}")
    if "min" in meta and value < meta["min"]:
        raise EngineError(f"config key {key}={value!r} is too small",
                          f"allowed values: >= {meta['min']}")
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise EngineError(f"config section {prefix.rstrip('.') or '<top>'} must be a mapping, "
                          f"got {data!r}", "write it as `key: value` lines in YAML")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise EngineError(f"unknown config key {prefix}{unknown[0]}",
                          f"allowed keys in {prefix.rstrip('.') or 'the top level'}: "
                          f"{', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _check_value(prefix + name, hint, value, fields[name].metadata)
    return cls(**kwargs)


def _check_objectives(objectives: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if not objectives:
        raise EngineError("the recipe has no objectives",
                          "add e.g. `objectives: {self: {weight: 1.0}}`")
    out = {}
    for name, spec in objectives.items():
        spec = {"weight": 1.0} if spec is None else spec
        if not isinstance(spec, dict):
            raise EngineError(f"config key objectives.{name} must be a mapping, got {spec!r}",
                              "e.g. `temporal: {weight: 1.0, temperature: 0.1}`")
        weight = spec.get("weight", 1.0)
        _check_value(f"objectives.{name}.weight", float, weight, {"min": 0})
        out[str(name)] = {**spec, "weight": float(weight)}
    known = _known_objectives()
    unknown = sorted(set(out) - set(known)) if known else []
    if unknown:
        raise EngineError(f"unknown objective objectives.{unknown[0]}",
                          f"allowed objectives: {', '.join(sorted(known))}")
    return out


def _known_objectives() -> list[str]:
    """Names from the objective registry once engine.objectives exists (else: no check here)."""
    from engine.nn.registry import OBJECTIVES

    try:
        return OBJECTIVES.names()
    except ImportError:
        return []


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise EngineError(f"override {item!r} is not key=value",
                              "e.g. train.steps=50 objectives.temporal.weight=0.5")
        try:
            value = yaml_text.load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise EngineError(f"override {item!r}: value is not valid YAML ({exc})",
                              "quote text values") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise EngineError(f"override {item!r}: {part} is not a section",
                                  "only sections (data, model, train, ...) take dotted keys")
            node = child
        node[parts[-1]] = value
    return data


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a plain dict (e.g. parsed YAML) into a Config."""
    data = dict(data or {})
    objectives = data.pop("objectives", None) or {}
    if not isinstance(objectives, dict):
        raise EngineError(f"config key objectives must be a mapping, got {objectives!r}",
                          "e.g. `objectives: {self: {weight: 1.0}}`")
    cfg = _build(Config, data, "")
    cfg.objectives = _check_objectives(objectives)
    cfg.model = _check_model(cfg.model)
    return cfg


def _check_model(model: dict[str, Any]) -> dict[str, Any]:
    """The GeoModel config, defaults filled, keys checked by engine.nn.config."""
    from engine.nn.config import normalize_config

    try:
        return normalize_config(model)
    except EngineError as exc:
        raise EngineError(f"config section model: {exc.message}", exc.hint) from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Load a YAML recipe (or defaults when path is None) and apply key=value overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path, root = Path(path), project_root()
        if not path.is_file() and not path.is_absolute() and (root / path).is_file():
            path = root / path  # `--config models/x.yaml` works from any directory
        if not path.is_file() and path.parent == Path(".") and recipe_path(path.name):
            path = recipe_path(path.name)  # `--config crossview` names a shipped recipe
        if not path.is_file():
            raise EngineError(f"recipe {path} does not exist",
                              f"pass --config with a recipe name or file; recipes live in "
                              f"{recipes_dir()} (`python -m engine recipes` lists them)")
        try:
            data = yaml_text.load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise EngineError(f"recipe {path} is not valid YAML: {exc}",
                              "check indentation and quoting") from None
        if not isinstance(data, dict):
            raise EngineError(f"recipe {path} must be a YAML mapping", "see models/*.yaml")
    return config_from_dict(apply_overrides(data, list(overrides or [])))

"""GeoModel configuration as data: plain JSON-able dicts, validated on load with clear messages.

    {"embedding_dim": 128,
     "image":    {"backbone": "tiny_cnn", "backbone_kw": {}, "hidden_dim": 512, "bn": true,
                  "projection": "mlp" | "linear" | "none"}     (none: features = embedding)
     "overhead": null | {same keys as "image"}            (cross-view: a separate encoder)
     "location": null | {"name": "sphereC", ...}          (build_location_encoder settings)
     "time":     null | {"hidden_dim": 64, "drop_p": 0.1, "in_dim": 4}
     "predictor": null | {"hidden_dim": 512, "bn": true}} (MoCo v3 / BYOL predictor)
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from engine.errors import EngineError

ENCODER_DEFAULTS: dict[str, Any] = {
    "backbone": "tiny_cnn", "backbone_kw": {}, "hidden_dim": 512, "bn": True, "projection": "mlp",
}
PROJECTIONS = ("mlp", "linear", "none")
TIME_DEFAULTS: dict[str, Any] = {"hidden_dim": 64, "drop_p": 0.1, "in_dim": 4}
PREDICTOR_DEFAULTS: dict[str, Any] = {"hidden_dim": 512, "bn": True}
TOP_KEYS = ("embedding_dim", "image", "overhead", "location", "time", "predictor")


def _merge(section: str, given: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise EngineError(f"model config '{section}' must be a mapping, got {given!r}",
                          hint=f"e.g. {json.dumps(defaults)}")
    for key in given:
        if key not in defaults:
            raise EngineError(f"unknown key '{section}.{key}' in the model config",
                              hint=f"allowed keys: {', '.join(defaults)}")
    out = copy.deepcopy(defaults)
    out.update(copy.deepcopy(given))
    return out


def normalize_config(cfg: Any) -> dict[str, Any]:
    """Fill defaults and check keys; the result is the canonical JSON-able model config.

    Accepts a mapping, a dataclass with the same fields, or None (all defaults).
    """
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        cfg = dataclasses.asdict(cfg)
    if cfg is not None and not isinstance(cfg, dict):
        raise EngineError(f"the model config must be a mapping, got {type(cfg).__name__}",
                          hint='e.g. {"embedding_dim": 128, "image": {"backbone": "tiny_cnn"}}')
    cfg = dict(cfg or {})
    for key in cfg:
        if key not in TOP_KEYS:
            raise EngineError(f"unknown key '{key}' in the model config",
                              hint=f"allowed keys: {', '.join(TOP_KEYS)}")
    dim = cfg.get("embedding_dim", 128)
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise EngineError(f"model config 'embedding_dim' must be a positive integer, got {dim!r}",
                          hint="e.g. 128")
    out: dict[str, Any] = {"embedding_dim": dim}
    out["image"] = _merge("image", cfg.get("image") or {}, ENCODER_DEFAULTS)
    out["overhead"] = (
        None if cfg.get("overhead") is None
        else _merge("overhead", cfg["overhead"], ENCODER_DEFAULTS)
    )
    for part in ("image", "overhead"):
        if out[part] and out[part]["projection"] not in PROJECTIONS:
            raise EngineError(f"model config '{part}.projection' is {out[part]['projection']!r}",
                              hint=f"allowed values: {', '.join(PROJECTIONS)}")
    loc = cfg.get("location")
    if loc is not None:
        if not isinstance(loc, dict) or not isinstance(loc.get("name"), str):
            raise EngineError("model config 'location' must be a mapping with a 'name'",
                              hint='e.g. {"name": "sphereC", "min_radius": 1e-4}')
        loc = copy.deepcopy(loc)
    out["location"] = loc
    out["time"] = None if cfg.get("time") is None else _merge("time", cfg["time"], TIME_DEFAULTS)
    out["predictor"] = (
        None if cfg.get("predictor") is None
        else _merge("predictor", cfg["predictor"], PREDICTOR_DEFAULTS)
    )
    try:
        out = json.loads(json.dumps(out))  # tuples -> lists: equal to its own JSON round trip
    except (TypeError, ValueError) as exc:
        raise EngineError(f"model config is not plain data: {exc}",
                          hint="use numbers, strings, lists and mappings only") from exc
    return out

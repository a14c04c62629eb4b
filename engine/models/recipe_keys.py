"""The keys a model's config.yaml may hold: the training recipe's (engine.train.config.Config).

The inference side never imports engine.train, so the names are listed here; a contract test
(tests/engine/test_bad_inputs.py) keeps them equal to Config's fields. An unknown key - a typo
such as `data.chip_sise` - is refused when the model is opened, not ignored in silence.
"""

from __future__ import annotations

from typing import Any

from engine.errors import EngineError

# section -> its keys ("" is the top level); `model`, `objectives` and `input` are checked
# by their own readers (engine.nn.config, the objective registry, engine.data.radiometry)
RECIPE_KEYS: dict[str, tuple[str, ...]] = {
    "": ("name", "output", "data", "model", "objectives", "train", "input"),
    "data": ("streetview", "layer", "overhead", "overhead_dates", "image_size", "chip_size",
             "chip_res_m", "clusters", "bands", "scaling", "scale", "chip_m", "anchors",
             "max_shift_px", "cache_images", "resize", "panoramas", "view_headings", "view_fov",
             "view_reference", "pairs"),
    "data.pairs": ("place_radius_m", "temporal_heading_deg", "temporal_min_days",
                   "spatial_radius_m", "spatial_window_days", "exclude_same_sequence"),
    "train": ("steps", "batch_size", "lr", "weight_decay", "seed", "workers", "prefetch",
              "device", "log_every", "checkpoint_every", "write_digest", "regime",
              "trainable_blocks", "cached_views", "feature_cache"),
}


def check_recipe_keys(doc: dict[str, Any], where: str, section: str = "") -> None:
    """EngineError naming the first key of `doc` (a config.yaml) the recipe does not know."""
    known = RECIPE_KEYS[section]
    for key, value in doc.items():
        dotted = f"{section}.{key}" if section else str(key)
        if key not in known:
            raise EngineError(f"{where}: unknown key {dotted}",
                              f"allowed keys in {section or 'the top level'}: "
                              f"{', '.join(sorted(known))}; fix the file or re-train the model")
        if dotted in RECIPE_KEYS and isinstance(value, dict):
            check_recipe_keys(value, where, dotted)

"""The panorama options shared by import-photos and embed-points (one definition each)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.data.imagery_options import (
    DEFAULT_VIEW_FOV,
    PANORAMA_MODES,
    VIEW_REFERENCES,
    headings_text,
)

# option -> (the model config's data key, the engine's default)
_DEFAULTS = {"panoramas": ("panoramas", "auto"), "view_headings": ("view_headings",
                                                                   headings_text()),
             "view_fov": ("view_fov", DEFAULT_VIEW_FOV),
             "view_reference": ("view_reference", "pano")}


def add_view_arguments(parser: argparse.ArgumentParser, from_model: bool = False) -> None:
    """--panoramas, --view-headings, --view-fov, --view-reference. With `from_model`, an
    option left out takes the model's training setting (config.yaml `data:`), else the
    engine's default."""
    source = "the model's setting, else " if from_model else ""
    parser.add_argument("--panoramas", choices=PANORAMA_MODES, default=None,
                        help="cut 360° panoramas into views: auto (2:1 photos or flagged by "
                             f"is_pano / XMP GPano), all, none (default: {source}auto)")
    parser.add_argument("--view-headings", default=None,
                        help="view headings in degrees, comma-separated (default: "
                             f"{source}{headings_text()})")
    parser.add_argument("--view-fov", type=float, default=None,
                        help="horizontal field of view of each view, degrees (default: "
                             f"{source}{DEFAULT_VIEW_FOV:g})")
    parser.add_argument("--view-reference", choices=VIEW_REFERENCES, default=None,
                        help="view headings relative to the panorama's centre (its compass "
                             f"angle) or to north (default: {source}pano)")


def view_options(args: argparse.Namespace, model_data: dict[str, Any] | None = None) -> Any:
    """The parsed options as engine.data.views.ViewOptions (validated); options left out
    come from `model_data` (a model config's `data:` section), else the engine defaults."""
    from engine.data.views import ViewOptions

    model_data = model_data or {}
    chosen = {}
    for option, (key, default) in _DEFAULTS.items():
        value = getattr(args, option)
        chosen[option] = value if value is not None else model_data.get(key, default)
    return ViewOptions(mode=chosen["panoramas"], headings=chosen["view_headings"],
                       fov=chosen["view_fov"], reference=chosen["view_reference"])

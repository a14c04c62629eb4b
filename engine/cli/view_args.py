"""The panorama options shared by import-photos and embed-points (one definition each)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.data.imagery_options import (
    DEFAULT_VIEW_FOV,
    PANORAMA_MODES,
    VIEW_REFERENCES,
    VIEW_SETTINGS,
    headings_text,
)


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


def view_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The four options as keyword arguments (None where left out)."""
    return {key: getattr(args, key) for key in VIEW_SETTINGS}


def view_options(args: argparse.Namespace, model_data: dict[str, Any] | None = None) -> Any:
    """The parsed options as engine.data.views.ViewOptions (validated); options left out
    come from `model_data` (a model config's `data:` section), else the engine defaults."""
    from engine.data.views import view_options_from

    return view_options_from(view_settings(args), model_data)

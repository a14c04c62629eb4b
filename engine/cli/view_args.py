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


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """--panoramas, --view-headings, --view-fov, --view-reference."""
    parser.add_argument("--panoramas", choices=PANORAMA_MODES, default="auto",
                        help="cut 360° panoramas into views: auto (2:1 photos or flagged by "
                             "is_pano / XMP GPano), all, none (default: auto)")
    parser.add_argument("--view-headings", default=headings_text(),
                        help="view headings in degrees, comma-separated (default: 0,90,180,270)")
    parser.add_argument("--view-fov", type=float, default=DEFAULT_VIEW_FOV,
                        help="horizontal field of view of each view, degrees (default: 90)")
    parser.add_argument("--view-reference", choices=VIEW_REFERENCES, default="pano",
                        help="view headings relative to the panorama's centre (its compass "
                             "angle) or to north (default: pano)")


def view_options(args: argparse.Namespace) -> Any:
    """The parsed options as engine.data.views.ViewOptions (validated)."""
    from engine.data.views import ViewOptions

    return ViewOptions(mode=args.panoramas, headings=args.view_headings, fov=args.view_fov,
                       reference=args.view_reference)

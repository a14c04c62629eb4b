"""Choices and defaults of panorama cutting and provider reading, in one light module.

The CLI's parsers, the training config and the plugin's contract test read them here (no
heavy imports, so `--help` stays fast); engine.data.panorama, .views and .providers use them.
"""

from __future__ import annotations

PANORAMA_MODES = ("auto", "all", "none")  # auto: 2:1 or flagged; all: every photo; none: off
VIEW_REFERENCES = ("pano", "north")  # view headings relative to the panorama centre or north
DEFAULT_VIEW_HEADINGS = (0.0, 90.0, 180.0, 270.0)
DEFAULT_VIEW_FOV = 90.0
POSITIONS = ("computed", "original")  # Mapillary: structure-from-motion vs GPS position
# the settings' names: CLI options (--view-fov), API keywords and the training config's
# data.* keys (data.view_fov) alike, with their defaults
VIEW_SETTINGS = {"panoramas": "auto", "view_headings": None, "view_fov": DEFAULT_VIEW_FOV,
                 "view_reference": "pano"}


def headings_text(headings: tuple[float, ...] = DEFAULT_VIEW_HEADINGS) -> str:
    """(0.0, 90.0) -> '0,90': how view headings are written on a command line."""
    return ",".join(f"{h:g}" for h in headings)

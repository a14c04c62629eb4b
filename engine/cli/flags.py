"""Flags every command takes (--events, -v), also on nested subcommands (`map <kind>`)."""

from __future__ import annotations

import argparse

EVENT_FORMATS: tuple[str, ...] = ("human", "jsonl")


def add_global_flags(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    """--events and -v; `nested`: no defaults, so a value given before the subcommand stays."""
    default: dict = {"default": argparse.SUPPRESS} if nested else {}
    parser.add_argument(
        "--events", choices=EVENT_FORMATS, **(default or {"default": "human"}),
        help="'jsonl': one JSON event per line on stdout (for QGIS and scripts)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        **(default or {"default": False}), help="log debug detail")

"""`python -m engine <command> [--events jsonl]`: dispatch, events and clean errors."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

from engine.cli.events import EventsLogHandler, HumanEvents, JsonlEvents
from engine.cli.registry import COMMAND_MODULES
from engine.errors import EngineError


def _commands() -> dict[str, ModuleType]:
    modules = (importlib.import_module(name) for name in COMMAND_MODULES)
    return {module.NAME: module for module in modules}


def build_parser(commands: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="GeoContrast engine: learn image representations from geography, "
        "embed layers and rasters, fit heads with spatial CV, render maps.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in commands.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument(
            "--events",
            choices=("human", "jsonl"),
            default="human",
            help="'jsonl': one JSON event per line on stdout (for QGIS and scripts)",
        )
        p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    commands = _commands()
    args = build_parser(commands).parse_args(argv)
    events = JsonlEvents() if args.events == "jsonl" else HumanEvents()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    handler = EventsLogHandler(events)
    root.addHandler(handler)
    for chatty in ("pyogrio", "rasterio", "fiona", "matplotlib", "PIL"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        outputs = commands[args.command].run(args, events.progress)
    except EngineError as exc:
        events.error(exc.message, exc.hint)
        return 2
    except KeyboardInterrupt:
        events.error("interrupted", "outputs are written atomically; nothing partial was left")
        return 130
    except MemoryError:
        events.error("out of memory", "use a smaller --batch-size or a smaller area")
        return 3
    finally:
        root.removeHandler(handler)  # in-process callers (tests, notebooks) call main() repeatedly
    events.result(outputs or {})
    return 0


if __name__ == "__main__":
    sys.exit(main())

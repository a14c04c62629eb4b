"""`python -m engine <command> [--events jsonl]`: dispatch, events and clean errors."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from types import ModuleType

from engine.cli.events import EventsLogHandler, HumanEvents, JsonlEvents
from engine.cli.failures import describe
from engine.cli.flags import add_global_flags
from engine.cli.registry import command_modules
from engine.errors import EngineError


class UsageError(Exception):
    """A command line argparse rejects (unknown flag, value out of range)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so a bad flag becomes an error event."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _wants_jsonl(argv: list[str]) -> bool:
    return "--events=jsonl" in argv or any(
        a == "--events" and b == "jsonl" for a, b in zip(argv, argv[1:], strict=False))


def build_parser(commands: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m engine",
        description="GeoContrast engine: learn image representations from geography, "
        "embed layers and rasters, fit heads with spatial CV, render maps.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in commands.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        add_global_flags(p)
        module.add_arguments(p)
    return parser


def _negative_value(arg: str) -> str:
    """A negative number or x,y pair (`-83.01,39.92`, `-1e5`) marked as a value, not an option
    (argparse reads what has a space as a value): western and southern coordinates work
    without the `--positive=-83.01,39.92` spelling."""
    if arg.startswith("-") and len(arg) > 1 and (arg[1].isdigit() or arg[1] == "."):
        try:
            [float(v) for v in arg.split(",")]
        except ValueError:
            return arg
        return " " + arg
    return arg


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """parse_args, where KEY=VALUE overrides may also come after an option (`train.steps=5
    --raster a.tif train.batch_size=16`): argparse takes one run of positionals only."""
    args, extra = parser.parse_known_args([_negative_value(a) for a in argv])
    takes_overrides = isinstance(getattr(args, "overrides", None), list)
    if extra and takes_overrides and all("=" in a and not a.startswith("-") for a in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        raise UsageError(f"{parser.prog} {args.command}: unrecognized arguments: "
                         f"{' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    commands = command_modules()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(commands)
    try:
        args = _parse(parser, argv)
    except UsageError as exc:
        events = JsonlEvents() if _wants_jsonl(argv) else HumanEvents()
        prog = str(exc).split(":", 1)[0]
        events.error(str(exc), f"see `{prog} --help` for the options and their ranges")
        return 2
    events = JsonlEvents() if args.events == "jsonl" else HumanEvents()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    handler = EventsLogHandler(events)
    root.addHandler(handler)
    for chatty in ("pyogrio", "rasterio", "fiona", "matplotlib", "PIL"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        outputs = commands[args.command].run(args, events.progress)
    except KeyboardInterrupt:
        hint = ("outputs are committed together or not at all; the next run removes any "
                "scratch files")
        if args.command == "train":  # a plain re-run starts again from step 0
            hint += "; run the same command with --resume to continue from the last checkpoint"
        events.error("interrupted", hint)
        return 130
    except Exception as exc:
        if args.verbose and not isinstance(exc, EngineError):
            traceback.print_exc(file=sys.stderr)
        message, hint, code = describe(exc, args)
        events.error(message, hint)
        return code
    finally:
        root.removeHandler(handler)  # in-process callers (tests, notebooks) call main() repeatedly
    events.result(outputs or {})
    return 0


if __name__ == "__main__":
    sys.exit(main())

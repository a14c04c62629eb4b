"""`python -m engine defaults`: the engine's defaults and every command's flag choices.

What the QGIS plugin's contract test compares its parameter definitions with (the plugin
never imports the engine): engine.defaults by name, for each command (and each `map <kind>`)
the default and choices of every flag, read from the real argparse parsers, and the model
zoo's names (what `--model zoo:<name>` takes) with their native input size, from its registry.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.progress import Progress

NAME = "defaults"
HELP = "print the engine's defaults and each command's flag defaults and choices (JSON)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout (instead of key: value lines)")


class RecordingParser(argparse.ArgumentParser):
    """An ArgumentParser that keeps the actions it creates (argparse lists them only
    privately), including its subcommands' parsers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.recorded: list[argparse.Action] = []  # before __init__ adds --help
        self.subcommands: dict[str, RecordingParser] = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.recorded.append(action)
        return action

    def add_subparsers(self, **kwargs: Any) -> Any:
        action = super().add_subparsers(**kwargs)
        self.subcommands = action.choices  # filled as add_parser is called
        return action

    def flags(self) -> dict[str, dict[str, Any]]:
        """{--flag: {default, required, choices}} of this parser's options."""
        out = {}
        for action in self.recorded:
            longs = [s for s in action.option_strings if s.startswith("--")]
            if not longs or longs[0] == "--help":
                continue
            default = None if action.default is argparse.SUPPRESS else action.default
            out[longs[0]] = {"default": default, "required": bool(action.required),
                             "choices": list(action.choices) if action.choices else None}
        return out


def describe() -> dict[str, Any]:
    """{"values": engine.defaults, "commands": {"embed-raster": {flag: {...}}, "map zero_shot":
    {...}, ...}, "zoo": {"zoo:efficientnet_lite0": {"input_size": 224, ...}, ...}}, JSON-ready;
    each command's parser is built as `python -m engine` builds it."""
    from engine.cli.flags import add_global_flags
    from engine.cli.registry import command_modules
    from engine.defaults import as_dict
    from engine.nn.pretrained.zoo import PREFIX, ZOO

    commands: dict[str, Any] = {}
    for name, module in command_modules().items():
        parser = RecordingParser(prog=f"python -m engine {name}")
        add_global_flags(parser)
        module.add_arguments(parser)
        commands[name] = parser.flags()
        for kind, sub in parser.subcommands.items():
            commands[f"{name} {kind}"] = sub.flags()
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in as_dict().items()}
    zoo = {PREFIX + name: {"input_size": w.input_size, "feature_dim": w.feature_dim}
           for name, w in ZOO.items()}
    return {"values": values, "commands": commands, "zoo": zoo}


def run(args: argparse.Namespace, progress: Progress) -> dict:
    doc = describe()
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
        return {}
    return doc

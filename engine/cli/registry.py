"""The subcommands of `python -m engine`, by name.

Each module named here defines NAME, HELP, `add_arguments(parser)` and
`run(args, progress) -> dict` (the outputs). Modules import heavy libraries inside
`run`, so `--help` stays fast. Adding a command = one module + one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

COMMAND_MODULES: tuple[str, ...] = (
    "engine.cli.sample_city",
    "engine.cli.import_photos",
    "engine.train.cli",
    "engine.cli.embed_points",
    "engine.cli.embed_raster",
    "engine.cli.embed_locations",
    "engine.cli.fit",
    "engine.cli.map",
    "engine.cli.demo",
    "engine.cli.evaluate",
    "engine.cli.recipes",
    "engine.cli.defaults",
)


def command_modules() -> dict[str, ModuleType]:
    """The command modules by their NAME, in the order above."""
    modules = (importlib.import_module(name) for name in COMMAND_MODULES)
    return {module.NAME: module for module in modules}

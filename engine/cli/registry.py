"""The subcommands of `python -m engine`, by name.

Each module named here defines NAME, HELP, `add_arguments(parser)` and
`run(args, progress) -> dict` (the outputs). Modules import heavy libraries inside
`run`, so `--help` stays fast. Adding a command = one module + one line here.
"""

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
)

"""The plugin's argv matches the real engine: every algorithm's command exists, and every
`--flag` its module writes is one that command accepts (read from `<command> --help`)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from qgis_plugin.engine_runner import child_environment
from qgis_plugin.processing.provider import ALGORITHMS

PROCESSING = REPO / "qgis_plugin" / "processing"


def engine_help(python: str, *command: str) -> str:
    proc = subprocess.run([python, "-m", "engine", *command, "--help"], capture_output=True,
                          text=True, env=child_environment(), check=False)
    assert proc.returncode == 0, f"`python -m engine {' '.join(command)}`: {proc.stderr}"
    return proc.stdout


def flags_in(path: Path) -> set[str]:
    """String constants that look like long options (`--out`), in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.fullmatch(r"--[a-z][a-z0-9-]*", node.value)}


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.NAME)
def test_algorithm_flags_exist_in_engine(algorithm, engine_python):
    help_text = "".join(engine_help(engine_python, *command.split())  # exit 2 if none such
                        for command in commands_of(algorithm))
    module = Path(__import__(algorithm.__module__, fromlist=["x"]).__file__)
    unknown = sorted(f for f in flags_in(module) if f not in help_text)
    assert unknown == [], f"{module.name} passes flags `{algorithm.COMMAND}` lacks: {unknown}"


def test_shared_flags_exist_where_used(engine_python):
    """common.py's flags (--device, --batch-size, --out, --name) on the commands using them."""
    users = {"--device": ("embed-points", "embed-raster", "embed-locations"),
             "--batch-size": ("embed-points", "embed-raster"),
             "--out": tuple(f"map {kind}" for a in ALGORITHMS for kind in getattr(a, "KINDS", ())),
             "--name": ("map zero_shot", "map fewshot", "map similarity", "map location"),
             "--photo-dir": ("embed-points", "import-photos")}
    assert set(users) >= flags_in(PROCESSING / "common.py")
    for flag, used_by in users.items():
        for command in used_by:
            assert flag in engine_help(engine_python, *command.split()), (flag, command)


# ---- the plugin's parameter definitions against the engine's (`python -m engine defaults`)

ENUM_FLAGS = {"DEVICE": "--device", "DTYPE": "--dtype", "CLASSIFIER": "--classifier",
              "HEAD": "--head"}


@pytest.fixture(scope="module")
def engine_defaults(engine_python) -> dict:
    """The engine's defaults and every command's flags, as the engine reports them."""
    proc = subprocess.run([engine_python, "-m", "engine", "defaults", "--json"],
                          capture_output=True, text=True, env=child_environment(), check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def commands_of(algorithm) -> list[str]:
    """The engine commands an algorithm runs: COMMAND, or `map <kind>` for each of its KINDS."""
    kinds = getattr(algorithm, "KINDS", ())
    return [f"{algorithm.COMMAND} {kind}" for kind in kinds] or [algorithm.COMMAND]


def test_map_algorithms_name_real_map_subcommands(engine_defaults):
    """Every map algorithm lists its kinds; each is a `map` subcommand with its own flags,
    and every flag its module writes is one of those kinds' flags."""
    commands = engine_defaults["commands"]
    map_algorithms = [a for a in ALGORITHMS if a.COMMAND == "map"]
    assert {k for a in map_algorithms for k in a.KINDS} == {
        name.split()[1] for name in commands if name.startswith("map ")}
    for algorithm in map_algorithms:
        module = Path(__import__(algorithm.__module__, fromlist=["x"]).__file__)
        accepted = {flag for command in commands_of(algorithm) for flag in commands[command]}
        unknown = sorted(flags_in(module) - accepted)
        assert unknown == [], f"{module.name} passes flags {algorithm.KINDS} lack: {unknown}"


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.NAME)
def test_enum_parameters_equal_the_engines_choices(algorithm, engine_defaults, qgis_app):
    """Each enum parameter offers exactly the engine flag's choices, the engine's default
    first selected (the plugin keeps its own copy: it never imports the engine)."""
    alg = algorithm()
    alg.initAlgorithm()
    commands = engine_defaults["commands"]
    for param, flag in ENUM_FLAGS.items():
        definition = alg.parameterDefinition(param)
        if definition is None or not hasattr(definition, "options"):
            continue
        specs = [commands[c][flag] for c in commands_of(algorithm) if flag in commands[c]]
        if algorithm.COMMAND == "train":  # pretrain passes train.device=...: the config's
            specs = [{"choices": engine_defaults["values"]["devices"],
                      "default": engine_defaults["values"]["device"]}]
        assert specs, f"{algorithm.NAME}:{param} maps to {flag}, which the engine lacks"
        for spec in specs:
            assert definition.options() == spec["choices"], (algorithm.NAME, param)
            assert definition.options()[definition.defaultValue()] == spec["default"]


def test_stride_default_agrees_in_cli_plugin_and_benchmark(engine_defaults, engine_python,
                                                         qgis_app, tmp_path):
    """One stride default: embed-raster's --stride falls back to engine.defaults'
    default_stride(chip); the plugin's 0 passes no --stride (so that same default); the
    benchmark's maps use default_stride(its chip)."""
    from conftest import tiny_geotiff
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    from qgis_plugin.processing.embed_raster import EmbedRasterAlgorithm

    values = engine_defaults["values"]
    assert engine_defaults["commands"]["embed-raster"]["--stride"]["default"] is None
    probe = ("from engine.defaults import CHIP_PX, default_stride; "
             "from engine.evaluate.settings import settings_for; "
             "s = settings_for('benchmark'); "
             "print(default_stride(CHIP_PX), s.stride_px, default_stride(s.chip_px))")
    proc = subprocess.run([engine_python, "-c", probe], capture_output=True, text=True,
                          env=child_environment(), cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    cli_default, bench_stride, bench_rule = (int(v) for v in proc.stdout.split())
    assert cli_default == values["chip_px"] // values["stride_per_chip"]
    assert bench_stride == bench_rule

    alg = EmbedRasterAlgorithm()
    alg.initAlgorithm()
    assert alg.parameterDefinition("STRIDE").defaultValue() == 0
    raster = tiny_geotiff(tmp_path / "r.tif")
    params = {"MODEL": str(tmp_path), "INPUT": raster, "STRIDE": 0, "CHIP": 0, "DTYPE": 0,
              "DEVICE": 0, "BATCH_SIZE": 64, "OUTPUT": str(tmp_path / "field.tif")}
    args = alg.engine_args(params, QgsProcessingContext(), QgsProcessingFeedback())
    assert "--stride" not in args and "--chip" not in args
    params["STRIDE"] = 8
    args = alg.engine_args(params, QgsProcessingContext(), QgsProcessingFeedback())
    assert args[args.index("--stride") + 1] == "8"


NUMBER_FLAGS = {"BATCH_SIZE": "--batch-size", "BLOCK_SIZE": "--block-size", "FOLDS": "--folds",
                "SEED": "--seed", "STEP": "--step"}


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.NAME)
def test_number_parameters_default_to_the_engines_defaults(algorithm, engine_defaults,
                                                           qgis_app):
    """A number parameter the engine also defaults (batch size, CV block, folds, seed, grid
    step) starts at the engine's value, so the plugin and the CLI give the same result."""
    alg = algorithm()
    alg.initAlgorithm()
    commands = engine_defaults["commands"]
    for param, flag in NUMBER_FLAGS.items():
        definition = alg.parameterDefinition(param)
        if definition is None:
            continue
        engine = [commands[c][flag]["default"] for c in commands_of(algorithm)
                  if flag in commands[c] and commands[c][flag]["default"] is not None]
        if param == "STEP" and not engine:  # embed-locations: the grid step has no default
            engine = [engine_defaults["values"]["grid_step_m"]]
        for value in engine:
            assert definition.defaultValue() == value, (algorithm.NAME, param, value)


def test_pretrained_models_are_the_engines_zoo_where_the_engine_takes_one(
        engine_defaults, engine_python, qgis_app):
    """The 'Pretrained model' choice lists exactly the engine's zoo (its registry, as
    `python -m engine defaults` reports it), after "(none: use the model folder)", and it is
    offered by every algorithm taking a model whose engine command's --model accepts a zoo
    name, and by no other (a zoo model has no location or time encoder)."""
    from qgis_plugin.processing.common import NO_PRETRAINED, PRETRAINED, ZOO_PREFIX

    engine_zoo = [name.removeprefix(ZOO_PREFIX) for name in engine_defaults["zoo"]]
    assert engine_zoo and all(name.startswith(ZOO_PREFIX) for name in engine_defaults["zoo"])
    offered = set()
    for algorithm in ALGORITHMS:
        alg = algorithm()
        alg.initAlgorithm()
        if alg.parameterDefinition("MODEL") is None:
            continue
        commands = [c for c in commands_of(algorithm)
                    if "--model" in engine_defaults["commands"][c]]
        takes_zoo = any(ZOO_PREFIX + engine_zoo[0] in engine_help(engine_python, *c.split())
                        for c in commands)
        definition = alg.parameterDefinition(PRETRAINED)
        assert (definition is not None) == takes_zoo, algorithm.NAME
        if definition is not None:
            offered.add(algorithm.NAME)
            assert definition.options() == [NO_PRETRAINED, *engine_zoo], algorithm.NAME
            assert definition.defaultValue() == NO_PRETRAINED and definition.usesStaticStrings()
            assert alg.parameterDefinition("MODEL").flags() & \
                alg.parameterDefinition("MODEL").FlagOptional  # the folder: one of the two
    assert offered == {"embed_points", "embed_raster"}


def test_the_embedding_table_the_plugin_looks_for_is_the_engines(engine_python, qgis_app):
    """The plugin reads the engine's embedding-layer table by name (it never imports it)."""
    from qgis_plugin.processing.common import EMBEDDING_META_TABLE

    proc = subprocess.run([engine_python, "-c", "from engine.export.embeddings_gpkg import "
                           "META_TABLE; print(META_TABLE)"], capture_output=True, text=True,
                          env=child_environment(), cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == EMBEDDING_META_TABLE

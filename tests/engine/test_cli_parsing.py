"""How the command line is read: overrides anywhere, negative coordinates, unknown flags."""

from __future__ import annotations

import pytest

from engine.cli.main import UsageError, _parse, build_parser
from engine.cli.registry import command_modules


@pytest.fixture(scope="module")
def parser():
    return build_parser(command_modules())


def test_overrides_may_follow_an_option(parser) -> None:
    args = _parse(parser, ["train", "--config", "overhead_self", "train.steps=5", "--raster",
                           "a.tif", "train.batch_size=16"])
    assert args.overrides == ["train.steps=5", "train.batch_size=16"]
    assert [str(p) for p in args.raster] == ["a.tif"]


def test_western_and_southern_coordinates_are_values(parser) -> None:
    args = _parse(parser, ["map", "similarity", "--field", "f.tif", "--positive",
                           "-83.0105,39.9225", "-83.02,-39.5", "--negative", "-1e5,2",
                           "--out", "o"])
    assert [float(v) for v in args.positive[0].split(",")] == [-83.0105, 39.9225]
    assert len(args.positive) == 2 and float(args.negative[0].split(",")[0]) == -1e5
    args = _parse(parser, ["embed-raster", "--model", "m", "--raster", "r.tif", "--out",
                           "o.tif", "--bbox", "-83.1", "-39", "-82.9", "-38.5"])
    assert args.bbox == [-83.1, -39.0, -82.9, -38.5]


def test_an_unknown_flag_names_its_command(parser) -> None:
    with pytest.raises(UsageError, match="python -m engine embed-raster: unrecognized "
                                         "arguments: --bogus"):
        _parse(parser, ["embed-raster", "--model", "m", "--raster", "r", "--out", "o",
                        "--bogus"])
    with pytest.raises(UsageError, match="unrecognized arguments: train.steps=5"):
        _parse(parser, ["embed-raster", "--model", "m", "--raster", "r", "--out", "o",
                        "train.steps=5"])  # overrides only where a command takes them

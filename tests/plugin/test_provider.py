"""The `geocontrast` provider registers with its algorithms and their parameters."""

from __future__ import annotations

import pytest
from qgis.core import QgsApplication, QgsProcessingContext


@pytest.fixture()
def provider(geocontrast_provider):
    return geocontrast_provider


def test_provider_lists_algorithms(provider):
    registry = QgsApplication.processingRegistry()
    ids = {alg.id() for alg in provider.algorithms()}
    assert {"geocontrast:sample_city", "geocontrast:validate_layer",
            "geocontrast:import_photos"} <= ids
    for alg_id in ids:
        alg = registry.algorithmById(alg_id)
        assert alg is not None, alg_id
        assert alg.displayName() and alg.shortHelpString() and alg.group()
        for param in alg.parameterDefinitions():
            assert param.description(), f"{alg_id}:{param.name()} has no description"
    assert not provider.supportsNonFileBasedOutput()
    assert provider.defaultVectorFileExtension() == "gpkg"


def test_sample_city_parameters(provider):
    alg = QgsApplication.processingRegistry().algorithmById("geocontrast:sample_city")
    assert alg.parameterDefinition("PRESET").options() == ["small", "default"]
    ctx = QgsProcessingContext()
    ok, _ = alg.checkParameterValues({"PRESET": 0, "SEED": 1, "OUTPUT": "/tmp/x"}, ctx)
    assert ok
    ok, _ = alg.checkParameterValues({"PRESET": 5, "SEED": 1, "OUTPUT": "/tmp/x"}, ctx)
    assert not ok
    args = alg.engine_args({"PRESET": 0, "SEED": 3, "OUTPUT": "/tmp/city"}, ctx, None)
    assert args == ["--out", "/tmp/city", "--preset", "small", "--seed", "3"]


def test_pretrain_args_and_checks(provider, tmp_path):
    alg = QgsApplication.processingRegistry().algorithmById("geocontrast:pretrain")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: t\n")
    ctx = QgsProcessingContext()
    params = {"CONFIG": str(recipe), "STEPS": 5, "DEVICE": 1,
              "OVERRIDES": "train.batch_size=4 name='my run'", "OUTPUT": str(tmp_path / "m")}
    assert alg.checkParameterValues(params, ctx) == (True, "")
    args = alg.engine_args(params, ctx, None)
    assert args[:2] == ["--config", str(recipe)]
    assert args[2:] == ["train.steps=5", "train.device=cpu", f'output="{tmp_path / "m"}"',
                        "train.batch_size=4", "name=my run"]
    ok, message = alg.checkParameterValues({**params, "OVERRIDES": "steps"}, ctx)
    assert not ok and "'steps' is not key=value" in message
    ok, message = alg.checkParameterValues({**params, "CONFIG": str(tmp_path / "no.yaml")}, ctx)
    assert not ok and "no.yaml" in message
    # without a file: a recipe shipped with the engine, by name (default crossview_spatial)
    named = {k: v for k, v in params.items() if k != "CONFIG"}
    assert alg.checkParameterValues(named, ctx) == (True, "")
    assert alg.engine_args(named, ctx, None)[:2] == ["--config", "crossview_spatial"]
    options = alg.parameterDefinition("RECIPE").options()
    assert "crossview" in options and "urbanstcl_temporal" in options

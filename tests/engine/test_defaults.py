"""One definition per value: the CLI's flags, training's config and the benchmark take their
defaults and choices from engine.defaults; one function resolves the device; a command reads
the model folder's config.yaml once, and a broken one is an error, not a silent `{}`."""

from __future__ import annotations

import json

import pytest
import torch
from rasterio.transform import from_origin
from test_embed_support import tiny_model, write_rgb_tif

from engine import defaults
from engine.cli.defaults import describe
from engine.errors import EngineError
from engine.models import folder as folder_mod
from engine.models.device import resolve_device
from engine.models.folder import ModelFolder
from engine.models.weights import save_model

torch.set_num_threads(1)
SHARED = {"--device": ("DEVICES", "DEVICE"), "--dtype": ("FIELD_DTYPES", "FIELD_DTYPE"),
          "--encoder": ("ENCODERS", "ENCODER"), "--classifier": ("CLASSIFIERS", "CLASSIFIER"),
          "--head": ("HEADS", "HEAD")}


def test_every_command_flag_takes_the_shared_choices_and_default() -> None:
    commands = describe()["commands"]
    seen = set()
    for name, flags in commands.items():
        for flag, (choices, default) in SHARED.items():
            spec = flags.get(flag)
            if spec is None or spec["choices"] is None:
                continue  # e.g. `map zero_shot --head` is a file, not a choice
            seen.add(flag)
            assert spec["choices"] == list(getattr(defaults, choices)), (name, flag)
            assert spec["default"] == getattr(defaults, default), (name, flag)
    assert seen == set(SHARED)
    assert commands["embed-raster"]["--batch-size"]["default"] == defaults.EMBED_BATCH
    assert commands["fit"]["--block-size"]["default"] == defaults.BLOCK_M


def test_training_config_defaults_are_the_shared_ones() -> None:
    import dataclasses

    from engine.train.config import DataConfig, TrainConfig

    train = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert train["device"].metadata["choices"] == defaults.DEVICES
    assert TrainConfig().steps == defaults.TRAIN_STEPS
    assert (DataConfig().chip_size, DataConfig().image_size) == (defaults.CHIP_PX,
                                                                 defaults.IMAGE_PX)


def test_stride_default_is_one_rule_for_cli_api_and_benchmark(tmp_path) -> None:
    """The CLI without --stride and the API without stride= both use default_stride(chip);
    the benchmark's full run maps at default_stride of its chip."""
    from engine.api.commands import embed_raster
    from engine.cli.main import main
    from engine.evaluate.settings import settings_for

    for preset in ("benchmark", "demo"):
        full = settings_for(preset)
        assert full.stride_px == defaults.default_stride(full.chip_px)
    model_dir = tmp_path / "tiny"
    save_model(tiny_model(), model_dir, extra_config={"data": {"chip_size": 16}})
    src = write_rgb_tif(tmp_path / "in.tif", 40, 32, "EPSG:32617",
                        from_origin(500000.0, 4000000.0, 1.0, 1.0))
    assert main(["embed-raster", "--model", str(model_dir), "--raster", str(src), "--out",
                 str(tmp_path / "cli.tif"), "--device", "cpu", "--no-preview",
                 "--events", "jsonl"]) == 0
    api = embed_raster(model_dir, src, tmp_path / "api.tif", device="cpu", preview=False)
    cli = json.loads((tmp_path / "cli.json").read_text())
    assert cli["stride_px"] == api["stride_px"] == defaults.default_stride(16) == 4


def test_one_function_resolves_the_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(EngineError, match="unknown device 'tpu'") as err:
        resolve_device("tpu")
    assert "--device" in err.value.hint
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_a_command_reads_the_model_config_once(tmp_path, monkeypatch) -> None:
    from engine.cli.main import main

    model_dir = tmp_path / "tiny"
    save_model(tiny_model(), model_dir, extra_config={"data": {"chip_size": 16}})
    src = write_rgb_tif(tmp_path / "in.tif", 24, 24, "EPSG:32617",
                        from_origin(500000.0, 4000000.0, 1.0, 1.0))
    reads = []
    real = folder_mod._read_doc
    monkeypatch.setattr(folder_mod, "_read_doc", lambda p: reads.append(p) or real(p))
    assert main(["embed-raster", "--model", str(model_dir), "--raster", str(src), "--out",
                 str(tmp_path / "f.tif"), "--device", "cpu", "--no-preview"]) == 0
    assert reads == [model_dir / "config.yaml"]


def test_a_broken_model_config_is_an_error_not_an_empty_dict(tmp_path) -> None:
    model_dir = tmp_path / "tiny"
    save_model(tiny_model(), model_dir)
    (model_dir / "config.yaml").write_text("model: [unclosed\n", encoding="utf-8")
    with pytest.raises(EngineError, match="not valid YAML"):
        ModelFolder.open(model_dir)
    (model_dir / "config.yaml").write_text("data: {chip_size: 8}\n", encoding="utf-8")
    with pytest.raises(EngineError, match="no `model:` section"):
        ModelFolder.open(model_dir)
    (model_dir / "config.yaml").unlink()
    with pytest.raises(EngineError, match="is missing"):
        ModelFolder.open(model_dir)

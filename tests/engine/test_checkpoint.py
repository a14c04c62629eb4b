"""Model files: load_model round trip; pickle, corrupt and tampered files are refused clearly;
pickle-free optimizer/RNG state round trip."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from engine.errors import EngineError
from engine.models.folder import load_model
from engine.models.weights import save_model
from engine.nn import GeoModel
from engine.train.state import load_state, rng_state, save_state, set_rng_state

torch.set_num_threads(1)

CONFIG = {"embedding_dim": 8,
          "image": {"backbone": "tiny_cnn", "backbone_kw": {"width": 4, "depth": 2, "out_dim": 8},
                    "hidden_dim": 16},
          "location": {"name": "sphereC"}}


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[GeoModel, Path]:
    torch.manual_seed(0)
    model = GeoModel.from_config(CONFIG)
    with torch.no_grad():  # non-default BN statistics, so buffers are checked too
        model.train().embed_image(torch.randn(4, 3, 16, 16))
    out = tmp_path / "m"
    save_model(model, out, extra_config={"name": "m"})
    return model, out


def test_round_trip(saved: tuple[GeoModel, Path]) -> None:
    model, out = saved
    loaded = load_model(out)
    assert not loaded.training
    ref, got = model.state_dict(), loaded.state_dict()
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(model.eval().embed_image(x), loaded.embed_image(x))
    assert torch.equal(load_model(out / "model.safetensors").embed_image(x),
                       loaded.embed_image(x))
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["embedding_dim"] == 8


def test_refuses_pickle_files(saved: tuple[GeoModel, Path], tmp_path: Path) -> None:
    _, out = saved
    pt = out / "model.pt"
    pt.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")  # a pickle stream
    with pytest.raises(EngineError, match="pickle"):
        load_model(pt)
    disguised = out / "model.safetensors"
    disguised.write_bytes(b"PK\x03\x04" + b"\x00" * 64)  # a torch.save zip, renamed
    with pytest.raises(EngineError, match="pickle"):
        load_model(out)


def test_refuses_corrupt_and_tampered(saved: tuple[GeoModel, Path]) -> None:
    _, out = saved
    weights = out / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(EngineError, match="model.safetensors"):
        load_model(out)
    n = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8:8 + n])
    key = next(k for k in header if k != "__metadata__" and len(header[k]["shape"]) == 4)
    header[key]["shape"][0] *= 2  # tampered header: shape no longer matches the byte offsets
    blob = json.dumps(header).encode()
    weights.write_bytes(struct.pack("<Q", len(blob)) + blob + good[8 + n:])
    with pytest.raises(EngineError, match="model.safetensors cannot be read"):
        load_model(out)
    weights.write_bytes(good)
    tensors = load_file(str(weights))
    missing = dict(tensors)
    missing.pop(key)
    save_file(missing, str(weights))
    with pytest.raises(EngineError, match="lacks weight"):
        load_model(out)
    wrong = dict(tensors)
    wrong[key] = torch.zeros(3, 3)
    save_file(wrong, str(weights))
    with pytest.raises(EngineError, match="expects"):
        load_model(out)


def test_shape_mismatch_with_config(saved: tuple[GeoModel, Path]) -> None:
    _, out = saved
    doc = yaml.safe_load((out / "config.yaml").read_text())
    doc["model"]["embedding_dim"] = 12
    (out / "config.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(EngineError, match="config.yaml"):
        load_model(out)
    (out / "config.yaml").unlink()
    with pytest.raises(EngineError, match="config.yaml"):
        load_model(out)


def test_state_round_trip_without_pickle(tmp_path: Path) -> None:
    torch.manual_seed(1)
    param = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.AdamW([param], lr=0.01)
    param.grad = torch.ones(5)
    opt.step()
    random.seed(2)
    np.random.seed(3)
    state = {"optimizer": opt.state_dict(), "rng": rng_state(), "step": 7, "history": [[1, 0.5]]}
    save_state(state, tmp_path / "s.safetensors", tmp_path / "s.json")
    assert b"\x80" not in (tmp_path / "s.json").read_bytes()
    expected = (torch.rand(3), np.random.rand(), random.random())
    back = load_state(tmp_path / "s.safetensors", tmp_path / "s.json")
    set_rng_state(back["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.random.rand() == expected[1] and random.random() == expected[2]
    opt2 = torch.optim.AdamW([torch.nn.Parameter(param.detach().clone())], lr=0.01)
    opt2.load_state_dict(back["optimizer"])
    a, b = opt.state_dict()["state"][0], opt2.state_dict()["state"][0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert back["step"] == 7 and back["history"] == [[1, 0.5]]
    (tmp_path / "s.json").write_text("{not json")
    with pytest.raises(EngineError, match="cannot be read"):
        load_state(tmp_path / "s.safetensors", tmp_path / "s.json")


def test_header_length_byte_0x80_is_not_mistaken_for_pickle(tmp_path: Path) -> None:
    from engine.models.weights import read_weights

    path = tmp_path / "w.safetensors"
    for pad in range(300):  # find a header whose length's low byte is 0x80 (a pickle magic)
        save_file({"a": torch.ones(2)}, str(path), metadata={"p": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert torch.equal(read_weights(path)["a"], torch.ones(2))

"""Shared engine-test fixtures: one small sample city per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generate the `small` preset of the sample city once (seed 0) and return its directory."""
    from engine.data.sample_city import generate

    out = tmp_path_factory.mktemp("small_city")
    generate(out, seed=0, preset="small")
    return out


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (the pretrained backbones thrash on shared cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

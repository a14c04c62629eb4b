"""Shared engine-test fixtures: one small sample city per test session, random photo files,
one torch thread."""

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
def random_photos(tmp_path: Path):
    """`make(n, h, w, suffix)`: n random RGB photo files in tmp_path (seeded), their paths."""
    import numpy as np
    from PIL import Image

    def make(n: int = 3, h: int = 24, w: int = 24, suffix: str = ".png") -> list[str]:
        rng = np.random.default_rng(0)
        paths = []
        for i in range(n):
            path = tmp_path / f"p{i}{suffix}"
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
            paths.append(str(path))
        return paths

    return make


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (the pretrained backbones thrash on shared cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

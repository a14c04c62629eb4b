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

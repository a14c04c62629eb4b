"""The README's Python API example runs as written, on the small sample city."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_api_block() -> str:
    """The ```python block under `## Python API` in README.md."""
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section holds one python block"
    return blocks[0]


@pytest.mark.slow
def test_readme_python_api_example_runs(small_city: Path, tmp_path: Path, monkeypatch) -> None:
    import torch

    torch.set_num_threads(1)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sample-city").symlink_to(small_city, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(readme_api_block(), str(README), "exec"), scope)

    photos, field, head, safety = (scope[k] for k in ("photos", "field", "head", "safety"))
    assert len(photos) > 0 and photos.crs is not None
    vectors = np.stack(photos["embedding"].to_numpy())
    assert vectors.shape == (len(photos), 64) and np.isfinite(vectors).all()
    assert field.dims == ("band", "y", "x") and field.sizes["band"] == 64
    assert field.attrs["metadata"]["stride_px"] == 8  # default_stride(32)
    a, _, c, _, e, f = field.attrs["transform"]
    assert field.x.values[0] == pytest.approx(c + a / 2)
    assert field.y.values[0] == pytest.approx(f + e / 2)
    assert safety.dims == ("band", "y", "x") and safety.sizes["band"] == 2
    assert safety.attrs["crs"] == field.attrs["crs"]
    assert np.isfinite(safety.sel(band=1).values).any()
    assert Path(safety.attrs["outputs"]["gpkg"]).is_file()
    assert head.cv["n_rows"] == len(photos) and "r2" in head.cv["metrics"]
    assert (tmp_path / "out/api/model/model.safetensors").is_file()

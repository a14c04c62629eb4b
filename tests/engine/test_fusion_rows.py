"""The benchmark's near/remote fusion rows: ground, overhead and both through one ridge head on
the same rows, the overhead vector of a photo being the grid cell that holds it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.cli.main import main as cli_main
from engine.evaluate.fusion_tasks import FUSION, STACKED_GROUND, field_at


def test_a_photo_takes_the_vector_of_the_grid_cell_holding_it() -> None:
    grid_xy = np.array([[25.0, 25.0], [75.0, 25.0], [25.0, 75.0]])
    feats = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], np.float32)
    got = field_at(np.array([[70.0, 10.0], [5.0, 60.0], [49.0, 49.0]]), grid_xy, feats)
    assert got[:, 0].tolist() == [2.0, 3.0, 1.0]


def test_fusion_rows_compare_ground_overhead_and_both_on_the_same_rows(small_city: Path,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "B.md"
    rc = cli_main(["evaluate", "--quick", "--city", str(small_city), "--work",
                   str(tmp_path / "work"), "--out", str(out), "--threads", "1", "--recipes",
                   "--tasks", "fusion_perception",
                   "fusion_socioeconomic"])
    assert rc == 0
    doc = json.loads((tmp_path / "B_rows.json").read_text())
    rows = doc["rows"]
    assert {r["task"] for r in rows} == {"fusion_perception", "fusion_socioeconomic"}
    for task in ("fusion_perception", "fusion_socioeconomic"):
        mine = [r for r in rows if r["task"] == task]
        assert {r["encoder"] for r in mine} == {"imagenet effnet-lite0", "mosaiks", FUSION,
                                                STACKED_GROUND}
        assert all(np.isfinite(r["r2_pooled"]) for r in mine)
        if task == "fusion_socioeconomic":  # every view on the same tracts
            assert len({r["n"] for r in mine}) == 1
    claims = {c["claim"]: c for c in doc["claims"]}
    for text in ("fusion: ground + overhead beats ground alone (perception)",
                 "fusion: ground + overhead beats overhead alone (socioeconomic)",
                 "fusion: ground + overhead beats ground alone stacked the same way "
                 "(perception)"):
        assert claims[text]["n_runs"] == 1 and claims[text]["verdict"] == "inconclusive"
    text = out.read_text(encoding="utf-8")
    assert "Near/remote fusion: perception per photo" in text
    assert "(only recipes (none); tasks fusion_perception, fusion_socioeconomic)" in text
    assert not (tmp_path / "work" / "city0" / "models").exists()  # no recipe trained

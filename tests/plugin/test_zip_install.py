"""Acceptance: the plugin as a new user meets it. The built zip is installed into a fresh
profile in a temporary HOME (no checkout on the path, no GEOCONTRAST_ENGINE_PYTHON), and
sample city -> zero-shot map -> few-shot map run through processing.runAndLoadResults, the
path the algorithm dialogs take; the loaded layers' renderers are what a user sees.

The engine for that session comes either from *Set up engine* itself (venv + pip from the
local packages: about 6 GB and minutes, so opt-in with GEOCONTRAST_TEST_ENGINE_SETUP=1, or
`make test-zip-install`), or, in the default run, from the Engine settings pointing at the
checkout's engine venv (the other way a user gets an engine). Both run zip_user_session.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

SESSION = Path(__file__).with_name("zip_user_session.py")
SETUP_ENV = "GEOCONTRAST_TEST_ENGINE_SETUP"


def run_session(tmp_path: Path, engine: str = "") -> dict:
    """Build the zip, run the new user's session in a fresh HOME; its JSON report."""
    subprocess.run([sys.executable, str(REPO / "qgis_plugin" / "build_zip.py"), "--out",
                    str(tmp_path / "dist")], check=True, capture_output=True)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "GEOCONTRAST_ENGINE_PYTHON", "VIRTUAL_ENV")
           and not k.startswith(("QGIS_", "XDG_"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen", PYTHONDONTWRITEBYTECODE="1")
    report = tmp_path / "report.json"
    argv = ["/usr/bin/python3", str(SESSION), str(tmp_path / "dist" / "geocontrast.zip"),
            str(work), str(report)] + (["--engine", engine] if engine else [])
    proc = subprocess.run(argv, cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=3000)
    assert proc.returncode == 0 and report.is_file(), proc.stderr[-3000:]
    return json.loads(report.read_text())


def check_session(report: dict, tmp_path: Path) -> None:
    """What a user must see after the session."""
    profile = Path(report["profile"])
    assert profile.is_relative_to(tmp_path / "home")  # a fresh profile in the temporary HOME
    assert Path(report["plugin_dir"]) == profile / "python" / "plugins" / "geocontrast"
    assert "crossview" in report["recipes"] and "urbanstcl_temporal" in report["recipes"]

    city = report["after_city"]
    group = next(name for name in city if name.startswith("Sample city"))
    layers = city[group]  # one group; points over tract outlines over the image
    assert [lyr["name"] for lyr in layers] == ["Street views", "Tracts", "Overhead (latest date)"]
    assert layers[1]["renderer"] == "singleSymbol" and layers[1]["fill_style"] == "no"

    # pre-fill: the embedding field, never its PCA preview (active) nor the image
    assert report["prefill_field"].endswith("field.tif")
    assert report["loaded_with_field"] == ["field.tif", "field_pca.tif"]  # and its preview

    first, second = (Path(p) for p in report["zero_shot_geotiffs"])
    assert (first.name, second.name) == ("zero_shot.tif", "zero_shot_2.tif")  # no overwrite
    groups = report["project"]
    for tif, reliable in zip((first, second), report["zero_shot_reliable"], strict=True):
        flag = " (UNRELIABLE)" if reliable is False else ""  # the validity check's verdict
        loaded = groups[f"GeoContrast: {tif.stem}{flag}"]
        assert [lyr["renderer"] for lyr in loaded] == ["graduatedSymbol",
                                                       "singlebandpseudocolor"]
        polygons, raster = loaded
        assert polygons["attribute"] == "prediction" and raster["band"] == 1
        assert raster["min"] < raster["max"]
    few = groups["GeoContrast: fewshot"]
    assert [lyr["renderer"] for lyr in few] == ["paletted"]
    assert few[0]["labels"] == report["fewshot_classes"] and few[0]["band"] == 1
    assert "classes: " in report["summary"] and "{" not in report["summary"]
    assert report["fewshot_outputs"] == ["CELLS_LAYER", "GEOTIFF", "OUTPUT"]  # no engine dict
    # the dialog's defaults pass (the engine derives the block); a typed block that leaves
    # one block is refused before the run, in the dialog's words; fewer blocks than folds
    # pass (the engine uses fewer folds and says so)
    assert report["fold_check_defaults"][0] and report["fold_check_fewer"][0]
    ok, message = report["fold_check"]
    assert not ok and message.startswith("'CV block size (metres)' 1000 gives only 1 block")
    assert "needs at least 2" in message and "set it to about" in message
    # every output inside the folders the session chose; nothing beside the plugin
    assert report["plugins_folder"] == ["geocontrast"]
    assert {f.split("/")[0] for f in report["files"]} <= {
        "city", "model", "photos.gpkg", "photos.faiss", "photos.json", "field.tif", "field.json",
        "field_pca.tif", "income.safetensors", "income.json", "income.cv.json", "maps",
        "labelled.gpkg", "few"}

@pytest.mark.slow
def test_zip_install_dialog_path_with_engine_settings(tmp_path, engine_python):
    report = run_session(tmp_path, engine=engine_python)
    assert report["engine_after"] == engine_python
    check_session(report, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get(SETUP_ENV) != "1",
                    reason=f"installs torch & co (~6 GB, minutes): set {SETUP_ENV}=1 or run "
                           "`make test-zip-install`")
def test_zip_install_with_engine_setup(tmp_path):
    report = run_session(tmp_path)
    print(f"set-up: {report['setup_seconds']} s, {report['setup_bytes'] / 1e9:.2f} GB")
    venv = Path(report["profile"]) / "geocontrast" / "engine-venv"
    assert not Path(report["engine_before"]).is_file()  # no engine before the set-up
    assert Path(report["engine_after"]).is_relative_to(venv)
    assert report["setup_message"].startswith("engine found, torch 2.14.1")
    check_session(report, tmp_path)

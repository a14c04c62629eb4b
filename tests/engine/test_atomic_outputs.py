"""engine.export.atomic: group commits, the journal a killed commit leaves, stale scratch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.export.atomic import (
    TAG,
    atomic_outputs,
    clean_stale,
    recover,
    scratch_name,
    staged_folder,
)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_outputs_commit_together_and_stale_side_files_go(tmp_path: Path) -> None:
    main, side, old_side = tmp_path / "f.tif", tmp_path / "f.json", tmp_path / "f_pca.tif"
    old_side.write_text("stale preview of an earlier field")
    with atomic_outputs(main, side, old_side) as outs:
        outs.path(main).write_text("field")
        outs.path(side).write_text("meta")
        assert not main.exists()  # nothing under a final name before the commit
    assert main.read_text() == "field" and side.read_text() == "meta"
    assert not old_side.exists()  # not written this time: never left stale beside the field
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "f.tif"]


def test_a_replaced_raster_loses_the_statistics_cached_about_the_old_one(tmp_path: Path) -> None:
    """QGIS colours a raster by the histogram GDAL cached in NAME.tif.aux.xml: a map written
    over an earlier one (Overwrite) must not be drawn with the earlier map's range."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    def write(path: Path, value: float) -> None:
        with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1,
                           dtype="float32", crs="EPSG:32617",
                           transform=from_origin(0, 4, 1, 1)) as ds:
            ds.write(np.full((1, 4, 4), value, np.float32))

    def minmax(path: Path) -> tuple[float, float]:
        with rasterio.open(path) as ds:
            stats = ds.stats(indexes=[1])[0]  # GDAL caches them in the PAM side file
        return stats.min, stats.max

    main = tmp_path / "map.tif"
    write(main, 60000.0)
    assert minmax(main) == (60000.0, 60000.0)  # what opening it in QGIS leaves behind
    aux = Path(f"{main}.aux.xml")
    assert aux.is_file()
    with pytest.raises(RuntimeError), atomic_outputs(main) as outs:  # a failed run: kept
        write(outs.path(main), 0.3)
        raise RuntimeError("boom")
    assert aux.is_file()
    with atomic_outputs(main) as outs:
        write(outs.path(main), 0.3)
    assert not aux.exists()
    assert minmax(main) == pytest.approx((0.3, 0.3))


def test_a_failure_leaves_nothing_new_and_the_old_files_as_they_were(tmp_path: Path) -> None:
    main = tmp_path / "out" / "e.gpkg"
    with pytest.raises(RuntimeError), atomic_outputs(main, main.with_suffix(".faiss")) as outs:
        outs.path(main).write_text("half")
        raise RuntimeError("boom")
    assert not (tmp_path / "out").exists()  # the folder it made is gone too
    main.parent.mkdir()
    main.write_text("old")
    with pytest.raises(RuntimeError), atomic_outputs(main) as outs:
        outs.path(main).write_text("new")
        raise RuntimeError("boom")
    assert [p.name for p in main.parent.iterdir()] == ["e.gpkg"] and main.read_text() == "old"


def test_recover_finishes_a_commit_killed_between_two_renames(tmp_path: Path) -> None:
    main, side = tmp_path / "f.tif", tmp_path / "f.json"
    main.write_text("old field")
    side.write_text("old meta")
    pid = dead_pid()
    tmp_main = tmp_path / f".f.tif{TAG}{pid}-aaaa.tif"
    tmp_side = tmp_path / f".f.json{TAG}{pid}-bbbb.json"
    tmp_main.write_text("new field")
    tmp_side.write_text("new meta")
    journal = tmp_path / f".f.tif{TAG}{pid}-cccc.commit"
    journal.write_text(json.dumps([[str(tmp_side), str(side)], [str(tmp_main), str(main)]]))
    os.replace(tmp_side, side)  # the kill came after the first rename
    recover(main)
    assert main.read_text() == "new field" and side.read_text() == "new meta"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "f.tif"]


def test_clean_stale_keeps_a_running_writer_s_scratch(tmp_path: Path) -> None:
    target = tmp_path / "f.tif"
    mine = scratch_name(target)  # this process: alive
    mine.write_text("in progress")
    dead = tmp_path / f".f.tif{TAG}{dead_pid()}-dddd.tif"
    dead.write_text("left by a kill")
    old_style = tmp_path / ".f.scratch-1234abcd.tif"  # the naming before this change
    old_style.write_text("left by a kill")
    other = tmp_path / f".g.tif{TAG}{dead_pid()}-eeee.tif"  # another output's scratch
    other.write_text("not ours")
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = tmp_path / f".f.tif{TAG}{writer.pid}-ffff.tif"
        running.write_text("another process is writing this")
        assert clean_stale(target) == 2
        assert running.exists() and mine.exists() and other.exists()  # in use / not ours
        assert not dead.exists() and not old_style.exists()
    finally:
        writer.kill()
        writer.wait()


def test_staged_folder_commits_a_family_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "maps"
    with staged_folder(out, "m") as stage:
        for name in ("m.tif", "m.qml", "m.png"):
            (stage / name).write_text(name)
    assert sorted(p.name for p in out.iterdir()) == ["m.png", "m.qml", "m.tif"]
    before = {p.name: p.read_text() for p in out.iterdir()}
    with pytest.raises(RuntimeError), staged_folder(out, "m") as stage:
        (stage / "m.tif").write_text("new")
        raise RuntimeError("boom")
    assert {p.name: p.read_text() for p in out.iterdir()} == before


def test_weights_and_heads_are_readable_as_any_new_file_of_the_user(tmp_path: Path) -> None:
    """safetensors writes its scratch file 0600; committed, a model or head gets the mode any
    new file gets under the umask (0644 under 022), so a QGIS running under another account
    of a shared machine can read it."""
    import numpy as np
    from test_embed_support import tiny_model

    from engine.heads.head import Head
    from engine.heads.io import save_head
    from engine.models.weights import save_model

    old = os.umask(0o022)
    try:
        paths = list(save_model(tiny_model(), tmp_path / "model").values())
        paths += save_head(Head("ridge", "regression", {"coef": np.ones((1, 2)),
                                                        "intercept": np.zeros(1)},
                                {"feature_dim": 2}), tmp_path / "head")
        os.umask(0o077)  # a private umask is kept as well
        private = save_head(Head("ridge", "regression", {"coef": np.ones((1, 2)),
                                                         "intercept": np.zeros(1)},
                                 {"feature_dim": 2}), tmp_path / "private")
    finally:
        os.umask(old)
    for path in paths:
        assert Path(path).stat().st_mode & 0o777 == 0o644, path
    for path in private:
        assert Path(path).stat().st_mode & 0o777 == 0o600, path


def test_a_staged_commit_moves_a_folder_over_a_folder_and_a_killed_one_is_finished(
        tmp_path: Path) -> None:
    """A training run's checkpoints.next replaces checkpoints/ in the commit of its files;
    a kill after the old folder was partly removed is finished by the journal's replay."""
    out = tmp_path / "run"
    (out / "checkpoints" / "step-9").mkdir(parents=True)
    (out / "checkpoints" / "latest.json").write_text("old run")
    (out / "checkpoints.next" / "step-2").mkdir(parents=True)
    (out / "checkpoints.next" / "latest.json").write_text("new run")
    with staged_folder(out, "model.safetensors",
                       folders={out / "checkpoints": out / "checkpoints.next"}) as stage:
        (stage / "model.safetensors").write_text("new model")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "model.safetensors"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["latest.json", "step-2"]
    # killed in the middle: the old folder half removed, the new one not moved yet
    (out / "checkpoints.next").mkdir()
    (out / "checkpoints.next" / "latest.json").write_text("newer run")
    (out / "checkpoints" / "latest.json").unlink()
    journal = out / f".model.safetensors{TAG}{dead_pid()}-cccc.commit"
    journal.write_text(json.dumps([[str(out / "checkpoints.next"), str(out / "checkpoints")]]))
    recover(out / "model.safetensors")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "model.safetensors"]
    assert [p.read_text() for p in (out / "checkpoints").iterdir()] == ["newer run"]


def test_log_text_names_outputs_not_their_scratch_copies(tmp_path: Path) -> None:
    from engine.export.atomic import display_paths, target_of

    stage = scratch_name(tmp_path / "maps" / "zero_shot", "")
    text = (f"wrote {stage / 'zero_shot.tif'} (2 bands); index "
            f"{scratch_name(tmp_path / 'e.faiss')}, done")
    assert display_paths(text) == (f"wrote {tmp_path / 'maps' / 'zero_shot.tif'} (2 bands); "
                                   f"index {tmp_path / 'e.faiss'}, done")
    assert target_of(stage / "zero_shot.tif") == tmp_path / "maps" / "zero_shot.tif"
    assert display_paths("/a/.hidden/x.tif") == "/a/.hidden/x.tif"

"""`kill -9` at random points of embed-raster, embed-points, map and import-photos.

Each loop alternates two argument sets (so a new output differs from the old one), SIGKILLs the
command's process at a random time and checks the outputs right away: either the old ones
byte-identical, or the new ones complete and consistent with each other (a field with its own
preview and JSON, a GeoPackage with its own .faiss, a map whose GeoPackage cells match its
GeoTIFF). A commit the kill interrupted is finished by the next run (engine.export.atomic.
recover, the first thing it does); after the last run no scratch file is left.

Each command runs in its own process, forked from a warm runner that imported the engine once
(fork_runner.py: `engine.cli.main.main(argv)`, exactly what `python -m engine` runs), so the
loops do not pay an interpreter start-up per kill. The kill time is drawn uniformly over the
command's own work (first event to exit, measured on a full run, x 1.1) for half the kills and
over its last fifth (where the commit is) for the other half. Outcome counts are printed (`-s`
shows them). The journal roll-forward itself is tested deterministically in
test_atomic_outputs.py (a kill between two renames is too rare to hit at random).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bad_inputs_world import build_world, scratch_left, snapshot, streetview_frame, write_layer

from engine.export.atomic import TAG, recover

REPO = Path(__file__).resolve().parents[2]
KILLS = 10  # kills that hit a running process, per command
MAX_TRIES = 30
pytestmark = pytest.mark.slow


class Runner:
    """The warm fork runner (fork_runner.py): one real process per command, started fast."""

    def __init__(self, scratch: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name(
            "fork_runner.py"))], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        assert json.loads(self.proc.stdout.readline()).get("ready")
        self.events = scratch / "events.jsonl"

    def _ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def start(self, argv: list[str], events: Path | None = None) -> tuple[int, float]:
        """Fork the command; return its pid and when its first event came (work started)."""
        events = events or self.events
        events.unlink(missing_ok=True)  # wait for this run's own first event
        pid = self._ask({"argv": argv, "events": str(events)})["pid"]
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end:
            if events.exists() and events.read_text().strip():
                break
            time.sleep(0.002)
        return pid, time.monotonic()

    def wait(self, pid: int) -> int:
        return int(self._ask({"wait": pid, "timeout": 300})["code"])

    def full(self, argv: list[str]) -> float:
        """Run to the end; seconds from the first event to the exit (the runner's clock, as
        the kill's: the same origin, and no poll interval in either)."""
        pid, _ = self.start(argv)
        reply = self._ask({"wait": pid, "timeout": 300})
        assert reply.get("code") == 0, self.events.read_text()[-2000:]
        return float(reply["s"])

    def killed(self, argv: list[str], after_s: float) -> tuple[bool, float]:
        """SIGKILL the command `after_s` after its first event: (whether it was running,
        seconds from its first event to the kill or its exit)."""
        pid, _ = self.start(argv)
        reply = self._ask({"wait": pid, "timeout": after_s, "kill": True})
        assert reply.get("killed") or reply.get("code") == 0, self.events.read_text()[-2000:]
        return bool(reply.get("killed")), float(reply["s"])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory):
    r = Runner(tmp_path_factory.mktemp("runner"))
    yield r
    r.close()


def kill_loop(run: Runner, name: str, folder: Path, argvs: list[list[str]], outputs: list[Path],
              complete: Callable[[int], bool], seed: int) -> Counter:
    """The loop described in the module doc; returns the outcome counts."""
    rng = random.Random(seed)
    # the old outputs, and how long one run takes: the faster of two runs (the first one in
    # a fresh runner pays one-off costs, and a window measured on it lets many kills miss)
    t_full = min(run.full(argvs[0]), run.full(argvs[0]))
    counts: Counter = Counter()
    k = 1
    while counts["kills"] < KILLS and counts["tries"] < MAX_TRIES:
        old = snapshot(folder)
        counts["tries"] += 1
        # half the kills anywhere in the run, half in its last fifth (the commit is there)
        frac = rng.uniform(0.0, 1.1) if rng.random() < 0.5 else rng.uniform(0.8, 1.1)
        hit, took = run.killed(argvs[k % 2], frac * t_full)
        if not hit:  # it finished first: runs got faster than measured (load comes and goes)
            t_full = min(t_full, took)
        journal = any(TAG in p.name and p.name.endswith(".commit") for p in folder.iterdir())
        for out in outputs:
            recover(out)  # what the next run does first
        now = {p: h for p, h in snapshot(folder).items() if TAG not in p}
        old_kept = now == {p: h for p, h in old.items() if TAG not in p}
        assert old_kept or complete(k % 2), f"{name}: neither old nor new complete"
        if hit:
            counts["kills"] += 1
            counts["old kept" if old_kept else "new complete"] += 1
            counts["commit finished by the next run"] += journal
        if not old_kept:
            k += 1  # the new outputs are the old ones of the next round
    assert counts["kills"] >= KILLS, counts
    run.full(argvs[k % 2])  # the next run: it cleans what the killed runs left
    assert scratch_left(folder) == [], f"{name}: scratch left {scratch_left(folder)}"
    assert complete(k % 2)
    print(f"\n{name}: {dict(counts)}")
    return counts


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    torch.set_num_threads(1)
    return build_world(tmp_path_factory.mktemp("world"))


def test_kill_embed_raster(world: dict[str, Path], runner: Runner, tmp_path: Path) -> None:
    import json

    import rasterio

    out = tmp_path / "f.tif"
    strides = ["6", "4"]
    argvs = [["embed-raster", "--model", str(world["model"]), "--raster", str(world["ov"]),
              "--out", str(out), "--chip", "12", "--stride", s, "--device", "cpu"]
             for s in strides]

    def complete(i: int) -> bool:
        width = -(-64 // int(strides[i]))
        info = json.loads(out.with_suffix(".json").read_text())
        with rasterio.open(out) as a, rasterio.open(tmp_path / "f_pca.tif") as b:
            return (a.width == b.width == info["width"] == width and a.count == 16
                    and info["stride_px"] == int(strides[i]))

    kill_loop(runner, "embed-raster", tmp_path, argvs, [out], complete, seed=1)


def test_kill_embed_points(world: dict[str, Path], runner: Runner, tmp_path: Path) -> None:
    from engine.embed.index import index_path, read_index
    from engine.embed.points import read_point_embeddings
    from engine.export.embeddings_gpkg import read_embedding_meta

    out = tmp_path / "e.gpkg"
    sizes = ["24", "32"]
    argvs = [["embed-points", "--model", str(world["model"]), "--layer", str(world["sv"]),
              "--out", str(out), "--image-size", s, "--workers", "0", "--device", "cpu"]
             for s in sizes]

    def complete(i: int) -> bool:
        _, emb = read_point_embeddings(out)
        index = read_index(index_path(out))
        vecs = index.reconstruct_n(0, index.ntotal)
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        meta = read_embedding_meta(out, "embeddings")
        return (meta["extra"]["image_size"] == int(sizes[i]) and len(emb) == index.ntotal == 16
                and np.allclose(vecs, unit, atol=1e-5))

    kill_loop(runner, "embed-points", tmp_path, argvs, [out, index_path(out)], complete, seed=2)


def test_kill_map(world: dict[str, Path], runner: Runner, tmp_path: Path) -> None:
    import pyogrio
    import rasterio

    out = tmp_path / "maps"
    positives = ["500024,3999976", "500042,3999958"]
    argvs = [["map", "similarity", "--field", str(world["field"]), "--positive", p, "--out",
              str(out)] for p in positives]

    def complete(i: int) -> bool:
        with rasterio.open(out / "similarity.tif") as ds:
            band = ds.read(1, masked=True)
        cells = pyogrio.read_dataframe(out / "similarity.gpkg", layer="similarity_cells")
        from PIL import Image

        Image.open(out / "similarity.png").verify()
        return ((out / "similarity.qml").is_file()
                and abs(float(band.mean()) - float(cells["similarity"].mean())) < 1e-3)

    out.mkdir()
    kill_loop(runner, "map", out, argvs, [out / "similarity"], complete, seed=3)


def test_kill_import_photos(world: dict[str, Path], runner: Runner, tmp_path: Path) -> None:
    import pyogrio

    photos = sorted(str(p) for p in (world["root"] / "photos").glob("*.jpg"))
    half = write_layer(streetview_frame(photos[:8]), tmp_path / "half.gpkg")
    out = tmp_path / "out" / "sv.gpkg"
    out.parent.mkdir()
    write_layer(streetview_frame(photos[:2]), out, layer="other")  # must survive every run
    argvs = [["import-photos", "--input", str(src), "--out", str(out)]
             for src in (world["sv"], half)]

    def complete(i: int) -> bool:
        layers = {str(r[0]) for r in pyogrio.list_layers(out)}
        rows = len(pyogrio.read_dataframe(out, layer="streetview"))
        return {"other", "streetview"} <= layers and rows == (16, 8)[i]

    kill_loop(runner, "import-photos", out.parent, argvs, [out], complete, seed=4)


def test_two_commands_writing_one_geopackage_at_once(world: dict[str, Path], runner: Runner,
                                                     tmp_path: Path) -> None:
    """import-photos and embed-points into one GeoPackage, concurrently, three times: every
    time both layers survive and the .faiss matches the embeddings layer (the folder lock
    serialises the read-modify-write commits; the last one no longer wins)."""
    import pyogrio

    from engine.embed.index import index_path, read_index
    from engine.embed.points import read_point_embeddings

    out = tmp_path / "both.gpkg"
    for i in range(3):
        a, _ = runner.start(["import-photos", "--input", str(world["sv"]), "--out", str(out)],
                            tmp_path / f"a{i}.jsonl")
        b, _ = runner.start(["embed-points", "--model", str(world["model"]), "--layer",
                             str(world["sv"]), "--out", str(out), "--workers", "0",
                             "--device", "cpu"], tmp_path / f"b{i}.jsonl")
        assert runner.wait(a) == 0 and runner.wait(b) == 0
        layers = {str(r[0]) for r in pyogrio.list_layers(out)}
        assert {"streetview", "embeddings"} <= layers, layers
        _, emb = read_point_embeddings(out)
        assert read_index(index_path(out)).ntotal == len(emb) == 16
    assert scratch_left(tmp_path) == []

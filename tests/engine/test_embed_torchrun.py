"""Sharded inference: `torchrun --nproc_per_node 2` (gloo) embed-raster / embed-points equal a
single-process run (values, georeferencing, row order, faiss rows), and the split is exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from test_embed_support import tiny_model

from engine.distributed import DistInfo
from engine.embed import shard
from engine.embed.index import index_path, read_index
from engine.embed.points import read_point_embeddings
from engine.paths import project_root

ROOT = project_root()


def place(rank: int, world: int) -> DistInfo:
    import torch

    return DistInfo(rank=rank, world=world, local_rank=rank, device=torch.device("cpu"))


@pytest.mark.parametrize("n_rows,batch,world", [(480, 32, 2), (5, 32, 3), (100, 7, 4), (0, 8, 2)])
def test_row_ranges_cover_every_row_once_on_batch_boundaries(n_rows: int, batch: int,
                                                             world: int) -> None:
    ranges = [shard.row_range(n_rows, batch, place(r, world)) for r in range(world)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(start % batch == 0 for start, _ in ranges)
    blocks = list(range(11))
    assert sorted(sum((shard.mine(blocks, place(r, world)) for r in range(world)), [])) == blocks


def run(cmd: list[str], env: dict[str, str]) -> list[dict]:
    """Run an engine command; its result events (one per rank)."""
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return [e["outputs"] for e in events if e["event"] == "result"]


def read_tif(path: Path) -> tuple[np.ndarray, dict, list]:
    with rasterio.open(path) as ds:
        profile = {k: str(v) for k, v in ds.profile.items()}  # nodata NaN != NaN otherwise
        return ds.read(), profile, [ds.descriptions, ds.overviews(1), ds.scales,
                                           ds.offsets, ds.tags()]


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(small_city: Path, tmp_path: Path) -> None:
    from engine.models.weights import save_model

    model_dir = tmp_path / "models" / "tiny"
    save_model(tiny_model(), model_dir, extra_config={"data": {"image_size": 32}})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE",
                                                                    "LOCAL_RANK"))}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    raster = sorted((small_city / "overhead").glob("*.tif"))[0]
    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2",
                "--standalone", "-m", "engine"]
    single = [sys.executable, "-m", "engine"]
    args_r = ["embed-raster", "--model", str(model_dir), "--raster", str(raster), "--chip", "32",
              "--stride", "8", "--batch-size", "48", "--device", "cpu", "--events", "jsonl"]
    args_p = ["embed-points", "--model", str(model_dir), "--layer",
              str(small_city / "streetview.gpkg"), "--batch-size", "32", "--workers", "1",
              "--device", "cpu", "--events", "jsonl"]
    outs = {}
    for name, launcher in (("one", single), ("two", torchrun)):
        outs[name] = (tmp_path / name / "field.tif", tmp_path / name / "points.gpkg")
        res_r = run([*launcher, *args_r, "--out", str(outs[name][0])], env)
        res_p = run([*launcher, *args_p, "--out", str(outs[name][1])], env)
        n_ranks = 1 if name == "one" else 2
        assert len(res_r) == len(res_p) == n_ranks
        main_r = next(r for r in res_r if "output" in r)
        assert main_r["ranks"] == n_ranks and main_r["chips"] > 0
        if n_ranks == 2:  # both ranks did part of the work
            assert all(r["chips"] > 0 for r in res_r)
            assert all(r["embedded"] > 0 for r in res_p)
    # the embedding field and its preview: identical bytes-for-value and georeferencing
    for suffix in (".tif", "_pca.tif"):
        a = read_tif(outs["one"][0].with_name("field" + suffix))
        b = read_tif(outs["two"][0].with_name("field" + suffix))
        assert np.array_equal(a[0], b[0], equal_nan=True)
        assert a[1] == b[1] and a[2] == b[2]
    meta = [json.loads(p[0].with_suffix(".json").read_text()) for p in outs.values()]
    for key in ("width", "height", "transform", "crs", "chips", "nodata_pixels", "dimension"):
        assert meta[0][key] == meta[1][key], key
    # the photo embeddings: same rows in the same order, same vectors, same faiss rows
    frame1, emb1 = read_point_embeddings(outs["one"][1])
    frame2, emb2 = read_point_embeddings(outs["two"][1])
    assert len(frame1) == 480
    assert frame1.equals(frame2) and np.array_equal(emb1, emb2)
    idx1, idx2 = read_index(index_path(outs["one"][1])), read_index(index_path(outs["two"][1]))
    assert idx1.ntotal == idx2.ntotal == 480
    assert np.array_equal(idx1.reconstruct_n(0, 480), idx2.reconstruct_n(0, 480))
    assert not list((tmp_path / "two").glob(".*parts*"))  # rank 0 removed the parts


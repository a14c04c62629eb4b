"""Regenerate docs/PERFORMANCE.md: run every bench, keep each one's command and output.

    make performance                       # = .venv/bin/python bench/performance.py
    .venv/bin/python bench/performance.py --assemble-only   # rebuild from saved outputs

Each bench's stdout is saved under --logs (one file per bench) and pasted verbatim under its
command, so every figure in the document comes with the command that gives it. The GPU
section is bench/gpu-results.md (written by `bash bench/gpu.sh` on a CUDA machine) when it
exists; otherwise the section says that it has not been run. The torchgeo columns need the
bench-only environment (`make bench-env`). Takes about an hour on 2 busy cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = ".venv/bin/python"
# (key, title, command, what it shows)
BENCHES: list[tuple[str, str, str, str]] = [
    ("cpu_inference", "CPU inference paths (frozen EfficientNet-Lite0)",
     f"{PY} bench/cpu_inference.py --no-compile --threads 1 2 --batches 2 --rounds 2",
     "torch eager (NCHW), eager channels_last, ONNX Runtime and OpenVINO (fp32) on the same "
     "chips (torch.compile skipped: minutes of compiling on 2 cores); speed-up against "
     "eager, max abs difference of the features against eager."),
    ("embed_raster", "embed-raster vs pure compute and vs torchgeo",
     f"{PY} bench/embed_raster.py --sizes 2000 --strides 32 --peer-sizes 2000 --threads 1 2 "
     "--pairs 3",
     "ratio_vs_compute = our chips/s / the same encoder on chips in memory, the median of 3 "
     "pairs of runs back to back (pair_ratios: all 3; single runs of each, one after the "
     "other, gave 0.52 and 1.15 on this machine on 2026-11-26, its speed drifting between "
     "them); "
     "ratio_vs_torchgeo_wN = our chips/s / torchgeo's (RasterDataset + GridGeoSampler + "
     "DataLoader with N workers, the same model in torch eager), torchgeo run in each pair "
     "right after ours and the median pair's ratio shown (since 2026-11-27, session 17: run "
     "once after all pairs, its 1-thread, 1-worker ratio read 3.91 at 8610df9 and 1.96 at "
     "b20dbbe with no change to either path, torchgeo at 282 and 415 chips/s); peak RSS "
     "summed over the "
     "process and its workers; max_field_diff on the chips both computed."),
    ("embed_raster_20k", "embed-raster at 20k px vs pure compute, peak RSS",
     f"{PY} bench/embed_raster.py --sizes 20000 20000 20000 --strides 256 128 64 "
     "--peer-sizes --threads 1 --pairs 3",
     "a 20,000 x 20,000 px RGB raster (1.2 GB uncompressed) read in windows, chips every 256, "
     "128 and 64 px (64: the chips tile the raster): ratio to pure compute (median of 3 "
     "pairs) and peak RSS (the "
     "raster never sits in memory; a field up to engine.export.geotiff.MEMORY_BYTES does). "
     "Grids with a stride of at least twice the chip read only their chips "
     "(engine.embed.reader.read_block; the reader alone at stride 256: 3.1 s against "
     "7.5-8.4 s reading whole windows). The fixed costs (runtime start, first batch checked "
     "against torch, COG) weigh more on the sparser grids."
     " Pure compute runs just before and just after ours, pooled (since 2026-11-27: the "
     "machine's speed drifts by +-10 % between runs; pure_before_after shows it). At 36b87e7 "
     "stride 64 gave 0.842 and 0.86 (pure compute after ours only). Since then the reader "
     "thread does half the work (radiometry.normalise in place, bit-identical: the reader "
     "alone 20.2 -> 8.9 s; 8-bit bands read raw: 7.1 s) and finished blocks are written on a "
     "thread (engine.embed.write_thread); one idle run of this row's stride 64 between the "
     "two changes gave 0.893 (pairs 0.885 / 0.893 / 0.997); at 469245a, after this page's run, "
     "two more idle runs of stride 64 alone gave 0.994 (0.865 / 0.994 / 1.168) and 0.970 "
     "(0.856 / 0.970 / 1.117): at or above the target, with pairs this far apart. What is "
     "left: the COG "
     "(finalise_s ~5 s; a profile of the writer's close on this field: 4.4 s, of which "
     "GDAL's in-memory copy 0.55 s, overviews 0.8 s, the COG copy with float16 conversion "
     "and compression 3.0 s; DEFLATE level 1 or ZSTD gained little on the field's 80 px "
     "tiles, 1.9-2.4 s for a copy without overviews either way) and the model running a few "
     "% slower beside the reader thread (model_s against pure compute)."),
    ("embed_points", "embed-points vs a plain torchvision DataLoader; faiss HNSW vs flat",
     f"{PY} bench/embed_points.py --photos 2400",
     "ratio_vs_dataloader = our photos/s / a torchvision ImageFolder-style DataLoader's "
     "(same files, workers, batch and model); recall@10 of the HNSW index used beyond "
     "engine.embed.index.HNSW_THRESHOLD vectors, against exact search. 2,400 JPEG files "
     "(the small city's 480 photos, each written 5 times: about a default city's count)."),
    ("train_frozen", "training pipeline vs pure compute: frozen regime",
     f"{PY} bench/train_throughput.py --config models/lite0_self.yaml --steps 960 --rounds 24 "
     "--warmup 8 --repeats 3 train.regime=frozen",
     "frozen ImageNet EfficientNet-Lite0 at the recipe's batch (128), 4 cached views, "
     "features from the on-disk cache; ratio = pipeline images/s / the same steps on batches "
     "already in memory (target >= 0.9). A step is ~5 ms, so 960 steps in 24 interleaved "
     "rounds of 40, measured 3 times in a row (since 2026-11-27, session 17; the median "
     "repeat is reported with all three: one measurement's ratio swung 0.844-0.949 in 10 "
     "idle runs of the same code). Torch's 2 threads fill the 2 cores, so training draws the "
     "batches in line, 8 back to back (no prefetch thread: "
     "engine.train.prefetch.prefetch_mode), straight from the dataset without a DataLoader "
     "(engine.train.batch_draw.InlineBatches; 0.861-0.876 in 3 idle runs through the "
     "DataLoader, 2026-11-26). Where the rest goes (in-process timing, not committed): "
     "drawing a batch between steps took 0.54-0.77 ms until b188841, which gathers the two "
     "views' cached features (128 x 1,280 each) on torch's thread pool, idle between steps, "
     "instead of numpy's one thread, and hands the batch's indices over as an array "
     "(engine.train.sampler.KeyBatch): 0.41-0.42 ms against 0.56-0.57 ms, alternating the "
     "two in one process; of those 0.41 ms the gathers take ~0.19 ms and the batch's seeded "
     "generator ~0.06 ms. One measurement of this command before b188841: 0.864-0.923 in 11 "
     "idle runs (training code of d72d5d9 to d560942); after it: 0.844, 0.887, 0.895, "
     "0.907, 0.910, 0.919, 0.927, 0.929, 0.940, 0.949 (10 idle runs, 2026-11-27; 4 of them "
     "alternated with d560942's, which gave 0.836, 0.865, 0.892, 0.911). Since cdca41a the "
     "two views come from one gather per batch (engine.train.batch_draw.Gathers; the same "
     "batches bit for bit): this command alternating with the gather per view gave 0.890 / "
     "0.899 / 0.929 against 0.887 / 0.892 / 0.918 (2026-11-27, session 18); 5 more runs "
     "of it after the table below's: 0.901, 0.886, 0.907, 0.898, 0.895. Steps on fresh "
     "batches ran 0-3 % slower than on the 4 kept ones. Gathering in a background thread "
     "during the step (numpy's or torch's gather) was not better in 3 alternating runs. On "
     "a slower host (2026-11-27, session 19: compute 14,600-16,200 images/s against "
     "20,500-27,400 here, a step ~8 ms) the same training code gave 0.937, 0.950, 0.945, "
     "0.935, 0.939, 0.934 in 6 idle runs; with glibc's malloc kept from returning memory "
     "(MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ at 64 / 256 MB, so no fresh pages "
     "for each batch) 0.928 and 0.927, alternating with 0.950 and 0.945: not the cost."),
    ("train_frozen_inline", "frozen regime, batches drawn in line one at a time",
     f"{PY} bench/train_throughput.py --prefetch inline --config models/lite0_self.yaml "
     "--steps 960 --rounds 24 --warmup 8 --repeats 3 train.regime=frozen",
     "the same, one batch drawn before each step (training's way before the bursts): the "
     "comparison behind drawing 8 at a time."),
    ("train_frozen_thread", "frozen regime, batches forced into a prefetch thread",
     f"{PY} bench/train_throughput.py --prefetch thread --config models/lite0_self.yaml "
     "--steps 960 --rounds 24 --warmup 8 --repeats 3 train.regime=frozen",
     "the same, with the prefetch thread training used before: the comparison behind "
     "drawing in line."),
    ("train_frozen_1t", "training pipeline vs pure compute: frozen regime, 1 torch thread",
     f"{PY} bench/train_throughput.py --threads 1 --config models/lite0_self.yaml "
     "--steps 960 --rounds 24 --warmup 8 --repeats 3 train.regime=frozen",
     "the same with one torch thread: a core is spare, so the batches are drawn in a "
     "prefetch thread there."),
    ("train_partial", "training pipeline vs pure compute: partial regime",
     f"{PY} bench/train_throughput.py --config models/lite0_self.yaml --steps 48 --rounds 6 "
     "--warmup 2 --repeats 3 train.regime=partial train.batch_size=32",
     "last blocks of Lite0 train. Batches drawn in line, 8 at a time, as in the full regime "
     "below (rounds of 8 steps: each draws one burst). A batch (two augmented views of 32 "
     "photos at 128 px) takes about 14 ms to prepare against a ~560 ms step (about 0.97); "
     "the command with 3 rounds instead of 6 swung 0.855-0.974 in 6 idle runs (2026-11-26), "
     "with 6 rounds 0.938-0.979 in 3."),
    ("train_full", "training pipeline vs pure compute: full regime (tiny_cnn)",
     f"{PY} bench/train_throughput.py --config models/urbanstcl_self.yaml --steps 96 "
     "--rounds 6 --warmup 8 --repeats 3 train.regime=full train.batch_size=32",
     "the laptop default network, every weight trains. A batch (two augmented views of 32 "
     "cached photos) takes about 4.1 ms to prepare against an 80-100 ms step: drawn at once "
     "(engine.train.batch_draw: 0.8 ms against 2.3 ms item by item through a DataLoader), "
     "then augmented (about 3.3 ms for the two views). Torch's 2 threads fill the 2 cores, so "
     "the batches are drawn in line, 8 at a time (engine.train.prefetch.use_prefetch): "
     "387-398 images/s against 306-337 through a prefetch thread (--prefetch burst / thread, "
     "3 idle runs each, 2026-11-26). The thread's ratio flatters it: it keeps preparing "
     "batches while the pure-compute steps run. 10 idle runs of this command in a row "
     "(2026-11-26): 0.925, 0.943, 0.968, 0.954, 0.998, 0.953, 0.924, 0.966, 0.953, 0.983 "
     "(median 0.954); before the batch draw 0.890-0.998 (median 0.917), and 0.859-0.867 "
     "before 56f8350."),
]

HEAD = """# Performance

Generated by `make performance` (bench/performance.py) on {machine}, {when}. Every table below
is the verbatim output of the command above it. Absolute figures depend on the machine and on
whatever else runs on it: each bench interleaves or pairs its measurements in one run (ours
vs the peer, pipeline vs pure compute), and those ratios are the figures to compare.

Defaults these figures chose: `--runtime auto` runs pretrained (zoo/timm) encoders on
OpenVINO (fp32; else ONNX Runtime when OpenVINO is missing) on CPU for jobs of {min_items:,}+
chips/photos (engine/embed/accel.py; exported graphs kept on disk; checked equal to torch on
the first batch); every training regime draws each batch at once (engine/train/batch_draw.py);
point sets above 100,000 vectors get an HNSW faiss index
(engine/embed/index.py). Sharded inference (`torchrun ... -m engine embed-raster|embed-points`)
is checked equal to one process by tests/engine/test_embed_torchrun.py (README: many machines).
"""

GPU_NOT_RUN = """## GPU

Not run yet: no GPU machine was available to the session that wrote this page. On a CUDA
machine run `bash bench/gpu.sh` (training throughput per regime with fp32 / bf16 / fp16
autocast, the embedding benches on the GPU, a 2-process NCCL `torchrun` embed-raster checked
equal to one process), then `make performance ARGS=--assemble-only` to paste its table here
with the card's name.
"""


def run_bench(key: str, cmd: str, logs: Path) -> None:
    print(f"== {key}: {cmd}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, check=False)
    out = proc.stdout
    if proc.returncode != 0:
        out += "\n[failed]\n" + proc.stderr[-2000:]
    (logs / f"{key}.txt").write_text(out + f"\n(wall {time.perf_counter() - t0:.0f} s)\n")


def assemble(logs: Path, out: Path) -> None:
    import platform

    sys.path.insert(0, str(ROOT))
    from engine.embed.accel import MIN_ITEMS
    from engine.evaluate.report import machine

    m = machine()
    cpu = f"{m['cpu']} ({m['torch_cpu_capability']}, {platform.machine()})"
    parts = [HEAD.format(machine=f"{cpu}, {m['cpu_count']} CPUs",
                         when=time.strftime("%Y-%m-%d", time.gmtime()), min_items=MIN_ITEMS)]
    for key, title, cmd, what in BENCHES:
        log = logs / f"{key}.txt"
        body = log.read_text().strip() if log.is_file() else "(not run)"
        parts.append(f"## {title}\n\n{what}\n\n```sh\n{cmd}\n```\n\n{body}\n")
    gpu = ROOT / "bench" / "gpu-results.md"
    parts.append(f"## GPU\n\n```sh\nbash bench/gpu.sh\n```\n\n{gpu.read_text()}\n"
                 if gpu.is_file() else GPU_NOT_RUN)
    out.write_text("\n".join(parts))
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    p.add_argument("--logs", type=Path, default=Path("/tmp/geocontrast-bench/performance"))
    p.add_argument("--only", nargs="*", default=None, help="run only these benches (keys)")
    p.add_argument("--assemble-only", action="store_true",
                   help="only rebuild the page from the saved outputs")
    a = p.parse_args()
    a.logs.mkdir(parents=True, exist_ok=True)
    if not a.assemble_only:
        for key, _, cmd, _ in BENCHES:
            if a.only is None or key in a.only:
                run_bench(key, cmd, a.logs)
    assemble(a.logs, a.out)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

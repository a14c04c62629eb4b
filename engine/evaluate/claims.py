"""Summaries of the result rows: mean +- sd over seeds per (task, encoder, target), and the
seeds' claims judged from those rows (never hard-coded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

META = ("encoder", "seed", "task", "target", "n")


def aggregate(rows: list[dict]) -> dict[tuple[str, str, str], dict[str, tuple[float, float, int]]]:
    """(task, encoder, target) -> metric -> (mean, sd over seeds (NaN for one seed), n seeds)."""
    groups: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for r in rows:
        g = groups.setdefault((r["task"], r["encoder"], r["target"]), {})
        for k, v in r.items():
            if k not in META and isinstance(v, (int, float)):
                g.setdefault(k, []).append(float(v))
    out = {}
    for key, metrics in groups.items():
        out[key] = {}
        for m, vals in metrics.items():
            a = np.asarray(vals, np.float64)
            sd = float(np.nanstd(a, ddof=1)) if np.isfinite(a).sum() > 1 else float("nan")
            mean = float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")
            out[key][m] = (mean, sd, len(a))
    return out


@dataclass(frozen=True)
class Claim:
    """One claim of the seeds: encoder `better` beats `worse` on `metric` of `task`."""

    text: str
    task: str
    metric: str
    better: str
    worse: str


CLAIMS = (
    Claim("temporal positives help place recognition (vs self)", "vpr", "R@1",
          "urbanstcl_temporal", "urbanstcl_self"),
    Claim("spatial positives help socioeconomic prediction (vs self)", "socioeconomic",
          "r2_pooled", "urbanstcl_spatial", "urbanstcl_self"),
    Claim("self-supervision helps perception (vs random init)", "perception", "r2",
          "urbanstcl_self", "random-init"),
    Claim("cross-view zero-shot maps beat a random encoder", "map_fidelity", "pearson",
          "crossview_spatial", "random-init"),
)


def per_seed(rows: list[dict], task: str, metric: str, encoder: str) -> dict[int, float]:
    """seed -> mean of `metric` over the task's targets for `encoder`."""
    vals: dict[int, list[float]] = {}
    for r in rows:
        if r["task"] == task and r["encoder"] == encoder and metric in r:
            vals.setdefault(int(r["seed"]), []).append(float(r[metric]))
    return {s: float(np.nanmean(v)) for s, v in vals.items() if np.isfinite(v).any()}


def judge(rows: list[dict], claim: Claim) -> dict:
    """Difference better - worse (mean, sd over shared seeds), wins, and the verdict."""
    a = per_seed(rows, claim.task, claim.metric, claim.better)
    b = per_seed(rows, claim.task, claim.metric, claim.worse)
    seeds = sorted(set(a) & set(b))
    out = {"claim": claim.text, "task": claim.task, "metric": claim.metric,
           "better": claim.better, "worse": claim.worse, "n_seeds": len(seeds)}
    if not seeds:
        return {**out, "verdict": "not measured", "diff": float("nan"),
                "diff_sd": float("nan"), "wins": 0, "a": float("nan"), "b": float("nan")}
    diff = np.array([a[s] - b[s] for s in seeds])
    wins = int((diff > 0).sum())
    mean = float(diff.mean())
    verdict = "reproduced" if mean > 0 and wins > len(seeds) / 2 else "not reproduced"
    return {**out, "verdict": verdict, "diff": mean,
            "diff_sd": float(diff.std(ddof=1)) if len(seeds) > 1 else float("nan"),
            "wins": wins, "a": float(np.mean([a[s] for s in seeds])),
            "b": float(np.mean([b[s] for s in seeds]))}


def judge_all(rows: list[dict]) -> list[dict]:
    """Every claim in CLAIMS judged on `rows`."""
    return [judge(rows, c) for c in CLAIMS]

"""Summaries of the result rows: mean +- sd over seeds per (task, encoder, target), and the
seeds' claims judged from those rows (never hard-coded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.evaluate.baselines import COORDS, IMAGENET, RANDOM
from engine.evaluate.settings import PERCEPTION

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
    lower_is_better: bool = False
    targets: tuple[str, ...] | None = None  # None: every target of the task


CSP_FAMILIES = ("csp_wrap", "csp_grid", "csp_theory", "csp_sphereC", "csp_sphereM",
                "csp_spherical_harmonics", "csp_rff")

CLAIMS = (
    Claim("UrbanSTCL: temporal positives help place recognition (vs self)", "vpr", "R@1",
          "urbanstcl_temporal", "urbanstcl_self"),
    Claim("UrbanSTCL: spatial positives help socioeconomic prediction (vs self)",
          "socioeconomic", "r2_pooled", "urbanstcl_spatial", "urbanstcl_self"),
    Claim("UrbanSTCL: self-supervision helps perception (vs random init)", "perception", "r2",
          "urbanstcl_self", RANDOM),
    Claim("cross-view: zero-shot maps beat a random encoder's", "map_fidelity", "pearson",
          "crossview_spatial", RANDOM),
    Claim("cross-view: zero-shot perception maps are closer to the truth than a random "
          "encoder's (RMSE, lower is better)", "map_fidelity", "rmse", "crossview_spatial",
          RANDOM, lower_is_better=True,
          targets=PERCEPTION),
    Claim("cross-view: ground supervision makes overhead chips predict tract attributes "
          "(vs random init)", "socioeconomic_overhead", "r2_pooled", "crossview_spatial",
          RANDOM),
    Claim("GeoSSL: temporal MoCo + geo-cluster pretext helps socioeconomic prediction from "
          "street photos (vs UrbanSTCL temporal InfoNCE alone)", "socioeconomic", "r2_pooled",
          "geossl_temporal_pretext", "urbanstcl_temporal"),
    Claim("GeoSSL: a geo-location pretext helps overhead imagery (Landsat few-shot, "
          "self+geo vs self)", "landsat", "accuracy", "landsat self+geo", "landsat self"),
    Claim("GeoSSL: self-supervision on the scene helps land cover (Landsat few-shot, self vs "
          "random init)", "landsat", "accuracy", "landsat self", RANDOM),
    # issue 11: geography must add to what the pretrained network already knows
    Claim("pretrained: temporal adaptation beats the frozen ImageNet Lite0 it starts from "
          "(place recognition)", "vpr", "R@1", "lite0_temporal", IMAGENET),
    Claim("pretrained: spatial adaptation beats the frozen ImageNet Lite0 it starts from "
          "(socioeconomic, street photos)", "socioeconomic", "r2_pooled", "lite0_spatial",
          IMAGENET),
    Claim("pretrained: cross-view + spatial adaptation beats the frozen ImageNet Lite0 it "
          "starts from (perception)", "perception", "r2", "lite0_crossview_spatial", IMAGENET),
    Claim("pretrained: cross-view adaptation beats the frozen ImageNet Lite0 it starts from "
          "(ground -> overhead R@10)", "cross_view", "g2o_R@10", "lite0_crossview_spatial",
          IMAGENET),
    Claim("pretrained: cross-view adaptation beats the frozen ImageNet Lite0 it starts from "
          "(overhead chips -> tract attributes)", "socioeconomic_overhead", "r2_pooled",
          "lite0_crossview_spatial", IMAGENET),
    *(Claim(f"CSP/SatCLIP: {f} location embeddings transfer (vs raw x,y)",
            "location_encoders", "r2_pooled", f, COORDS) for f in CSP_FAMILIES),
)


def per_seed(rows: list[dict], task: str, metric: str, encoder: str,
             targets: tuple[str, ...] | None = None) -> dict[int, float]:
    """seed -> mean of `metric` over the task's targets (or `targets`) for `encoder`."""
    vals: dict[int, list[float]] = {}
    for r in rows:
        if r["task"] == task and r["encoder"] == encoder and metric in r and \
                (targets is None or r["target"] in targets):
            vals.setdefault(int(r["seed"]), []).append(float(r[metric]))
    return {s: float(np.nanmean(v)) for s, v in vals.items() if np.isfinite(v).any()}


def _broadcast(one: dict[int, float], other: dict[int, float]) -> dict[int, float]:
    """A seed-free baseline (one value) compared against every seed of a trained encoder."""
    if len(one) == 1 and len(other) > 1:
        value = next(iter(one.values()))
        return {s: value for s in other}
    return one


def judge(rows: list[dict], claim: Claim) -> dict:
    """Improvement of better over worse (better - worse, or worse - better when lower is
    better; mean and sd over shared seeds), seeds won, and the verdict."""
    a = per_seed(rows, claim.task, claim.metric, claim.better, claim.targets)
    b = per_seed(rows, claim.task, claim.metric, claim.worse, claim.targets)
    a, b = _broadcast(a, b), _broadcast(b, a)
    seeds = sorted(set(a) & set(b))
    out = {"claim": claim.text, "task": claim.task, "metric": claim.metric,
           "better": claim.better, "worse": claim.worse, "n_seeds": len(seeds)}
    if not seeds:
        return {**out, "verdict": "not measured", "diff": float("nan"),
                "diff_sd": float("nan"), "wins": 0, "a": float("nan"), "b": float("nan")}
    sign = -1.0 if claim.lower_is_better else 1.0
    diff = np.array([sign * (a[s] - b[s]) for s in seeds])
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

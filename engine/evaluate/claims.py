"""Summaries of the result rows: mean with its city-to-city and seed spread per (task,
encoder, target), and the seeds' claims judged on paired differences across (city, seed) runs
by the pre-registered decision rule (engine.evaluate.pairing; never hard-coded).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.evaluate import pairing
from engine.evaluate.adapted_tasks import adapted_name
from engine.evaluate.baselines import COORDS, IMAGENET, MOSAIKS, PIXELS, RANDOM, untrained
from engine.evaluate.fusion_tasks import FUSION, STACKED_GROUND
from engine.evaluate.settings import PERCEPTION, Settings

META = ("encoder", "seed", "city", "task", "target", "n")
# candidates for "the strongest baseline" of a claim
BASELINE_ENCODERS = (PIXELS, COORDS, IMAGENET, RANDOM)


def aggregate(rows: list[dict]) -> dict[tuple[str, str, str], dict[str, tuple]]:
    """(task, encoder, target) -> metric -> (mean of per-city means, city-to-city sd, mean
    within-city seed sd, number of runs); NaN where undefined."""
    groups: dict[tuple[str, str, str], dict[str, dict]] = {}
    for r in rows:
        g = groups.setdefault((r["task"], r["encoder"], r["target"]), {})
        for k, v in r.items():
            if k not in META and isinstance(v, (int, float)) and v == v:
                g.setdefault(k, {})[pairing.run_key(r)] = float(v)
    return {key: {m: (*pairing.spread(vals), len(vals)) for m, vals in metrics.items()}
            for key, metrics in groups.items()}


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

MAP_RECIPE = Settings().map_recipe  # the one recipe whose zero-shot maps are scored

CLAIMS = (
    Claim("UrbanSTCL: temporal positives help place recognition (vs self)", "vpr", "R@1",
          "urbanstcl_temporal", "urbanstcl_self"),
    Claim("UrbanSTCL: spatial positives help socioeconomic prediction (vs self)",
          "socioeconomic", "r2_pooled", "urbanstcl_spatial", "urbanstcl_self"),
    Claim("UrbanSTCL: self-supervision helps perception (vs random init)", "perception", "r2",
          "urbanstcl_self", RANDOM),
    Claim("cross-view: zero-shot maps beat a random encoder's", "map_fidelity", "pearson",
          MAP_RECIPE, RANDOM),
    Claim("cross-view: zero-shot perception maps are closer to the truth than a random "
          "encoder's (RMSE, lower is better)", "map_fidelity", "rmse", MAP_RECIPE,
          RANDOM, lower_is_better=True,
          targets=PERCEPTION),
    # issue 11: what the maps owe to geographic training, not to the ImageNet backbone
    Claim("cross-view: geographic training makes the zero-shot maps better than the same "
          "recipe untrained (ImageNet backbone, random adapters, same map head)",
          "map_fidelity", "pearson", MAP_RECIPE, untrained(MAP_RECIPE)),
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
    # issue 11 (amendment of 2026-11-26): the adapter with the frozen features it adapts,
    # stacked, vs those features recalibrated by the same stacking (same rows and folds)
    *(Claim(f"pretrained: the cross-view + spatial adapter adds to the frozen Lite0 features it "
            f"adapts ({what}; both stacked vs the features alone stacked the same way)",
            f"adapted_{task}", metric, adapted_name("lite0_crossview_spatial"), STACKED_GROUND)
      for task, what, metric in (("perception", "perception", "r2"),
                                 ("socioeconomic", "socioeconomic", "r2_pooled"))),
    # issue 11: near/remote fusion (the stacked head vs each view's own ridge on the same
    # rows and folds, and vs the ground ridge recalibrated by the same stacking)
    *(Claim(f"fusion: ground + overhead beats {alone} ({what})", f"fusion_{task}",
            metric, FUSION, enc)
      for task, what, metric in (("perception", "perception", "r2"),
                                 ("socioeconomic", "socioeconomic", "r2_pooled"))
      for alone, enc in (("ground alone", IMAGENET), ("overhead alone", MOSAIKS),
                         ("ground alone stacked the same way", STACKED_GROUND))),
    *(Claim(f"CSP/SatCLIP: {f} location embeddings transfer (vs raw x,y)",
            "location_encoders", "r2_pooled", f, COORDS) for f in CSP_FAMILIES),
)


def judge(rows: list[dict], claim: Claim, worse: str | None = None) -> dict:
    """Paired differences better - worse (the reverse where lower is better) per (city, seed)
    run, their mean of per-city means, 95 % interval, spreads and verdict; `worse` replaces
    the claim's own comparison encoder (e.g. the strongest baseline)."""
    worse = worse or claim.worse
    a = pairing.run_values(rows, claim.task, claim.metric, claim.better, claim.targets)
    b = pairing.run_values(rows, claim.task, claim.metric, worse, claim.targets)
    d = pairing.paired_differences(a, b, claim.lower_is_better)
    out = {"claim": claim.text, "task": claim.task, "metric": claim.metric,
           "better": claim.better, "worse": worse, "n_runs": len(d),
           "n_cities": len({c for c, _ in d}),
           "n_seeds": max((sum(1 for c2, _ in d if c2 == c) for c, _ in d), default=0),
           "a": pairing.spread(a)[0], "b": pairing.spread(b)[0]}
    if not d:
        nan = float("nan")
        return {**out, "verdict": "not measured", "diff": nan, "lo": nan, "hi": nan,
                "sd_city": nan, "sd_seed": nan, "wins": 0}
    mean, sd_city, sd_seed = pairing.spread(d)
    lo, hi = pairing.interval(d)
    return {**out, "diff": mean, "lo": lo, "hi": hi, "sd_city": sd_city, "sd_seed": sd_seed,
            "wins": sum(v > 0 for v in d.values()), "verdict": pairing.decide(lo, hi),
            "per_city": pairing.city_means(d)}


def strongest_baseline(rows: list[dict], claim: Claim) -> str | None:
    """Of BASELINE_ENCODERS, the one with the best mean score on the claim's task and metric
    (over all runs), other than the claim's own better encoder; None when none was run."""
    best, best_score = None, None
    for name in BASELINE_ENCODERS:
        if name == claim.better:
            continue
        vals = pairing.run_values(rows, claim.task, claim.metric, name, claim.targets)
        if not vals:
            continue
        score = pairing.spread(vals)[0] * (-1.0 if claim.lower_is_better else 1.0)
        if score == score and (best_score is None or score > best_score):
            best, best_score = name, score
    return best


def judge_all(rows: list[dict]) -> list[dict]:
    """Every claim in CLAIMS judged on `rows`, also against its strongest baseline."""
    out = []
    for c in CLAIMS:
        res = judge(rows, c)
        strongest = strongest_baseline(rows, c)
        res["vs_strongest"] = None if strongest is None else judge(rows, c, strongest)
        out.append(res)
    return out

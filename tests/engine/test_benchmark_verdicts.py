"""The benchmark's decision rule on constructed rows (issue 12): paired differences across
(city, training seed) runs, a 95 % t-interval over cities, reproduced / inconclusive / not
reproduced, the pairing of cities and seeds, the spreads and the strongest baseline; and the
held-out places of the identity tasks."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.stats import t as student_t

from engine.evaluate import pairing
from engine.evaluate.baselines import COORDS, IMAGENET, PIXELS, RANDOM
from engine.evaluate.claims import CLAIMS, aggregate, judge, judge_all, strongest_baseline

CLAIM = CLAIMS[0]  # temporal beats self on VPR R@1
CITIES, SEEDS = ("0", "1", "2"), (0, 1, 2)


def rows_for(diff_by_city: dict[str, list[float]], base: float = 0.4) -> list[dict]:
    """Rows of CLAIM's two encoders: worse scores base + city offset + seed offset, better
    scores that plus the given per-seed difference."""
    rows = []
    for ci, (city, diffs) in enumerate(diff_by_city.items()):
        for seed, d in zip(SEEDS, diffs, strict=True):
            w = base + 0.1 * ci + 0.01 * seed
            for enc, v in ((CLAIM.worse, w), (CLAIM.better, w + d)):
                rows.append({"encoder": enc, "city": city, "seed": seed, "task": CLAIM.task,
                             "target": "place", CLAIM.metric: v})
    random.Random(0).shuffle(rows)  # pairing must not depend on row order
    return rows


def expected_interval(per_city: list[float]) -> tuple[float, float]:
    m, sd, n = np.mean(per_city), np.std(per_city, ddof=1), len(per_city)
    half = student_t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    return m - half, m + half


def test_interval_above_zero_is_reproduced() -> None:
    diffs = {"0": [0.10, 0.12, 0.08], "1": [0.09, 0.11, 0.10], "2": [0.12, 0.10, 0.11]}
    res = judge(rows_for(diffs), CLAIM)
    per_city = [float(np.mean(v)) for v in diffs.values()]
    lo, hi = expected_interval(per_city)
    assert res["verdict"] == "reproduced"
    assert res["diff"] == pytest.approx(np.mean(per_city))
    assert (res["lo"], res["hi"]) == (pytest.approx(lo), pytest.approx(hi)) and lo > 0
    assert res["n_runs"] == 9 and res["n_cities"] == 3 and res["n_seeds"] == 3
    assert res["wins"] == 9
    assert res["per_city"] == pytest.approx(dict(zip(diffs, per_city, strict=True)))


def test_interval_containing_zero_is_inconclusive() -> None:
    # better on two cities, worse on the third: the city-to-city spread decides
    diffs = {"0": [0.10, 0.12, 0.08], "1": [0.05, 0.06, 0.04], "2": [-0.09, -0.11, -0.10]}
    res = judge(rows_for(diffs), CLAIM)
    assert res["lo"] < 0 < res["hi"]
    assert res["verdict"] == "inconclusive"
    assert res["wins"] == 6  # most runs won, still not reproduced


def test_interval_below_zero_is_not_reproduced() -> None:
    diffs = {"0": [-0.10, -0.12, -0.08], "1": [-0.09, -0.11, -0.10],
             "2": [-0.12, -0.10, -0.11]}
    res = judge(rows_for(diffs), CLAIM)
    assert res["hi"] < 0 and res["verdict"] == "not reproduced" and res["wins"] == 0


def test_decision_rule_edges() -> None:
    assert pairing.decide(0.01, 0.2) == pairing.REPRODUCED
    assert pairing.decide(-0.2, -0.01) == pairing.NOT_REPRODUCED
    assert pairing.decide(-0.1, 0.1) == pairing.INCONCLUSIVE
    assert pairing.decide(0.0, 0.1) == pairing.INCONCLUSIVE  # touching zero is not excluding
    assert pairing.decide(float("nan"), float("nan")) == pairing.INCONCLUSIVE
    # one city, one seed: no interval, so never "reproduced"
    one = rows_for({"0": [0.5, 0.5, 0.5]})
    one = [r for r in one if r["seed"] == 0]
    res = judge(one, CLAIM)
    assert res["n_runs"] == 1 and res["verdict"] == "inconclusive"


def test_lower_is_better_claims_flip_the_difference() -> None:
    rmse = next(c for c in CLAIMS if c.lower_is_better)
    rows = [{"encoder": e, "city": c, "seed": s, "task": rmse.task, "target": t,
             rmse.metric: v + 0.1 * int(c) + 0.01 * s}
            for c in CITIES for s in SEEDS for e, v in ((rmse.better, 1.0), (rmse.worse, 3.0))
            for t in rmse.targets]
    res = judge(rows, rmse)
    assert res["diff"] == pytest.approx(2.0) and res["verdict"] == "reproduced"


def test_cities_and_seeds_are_paired_run_by_run() -> None:
    # the better encoder's score depends on (city, seed); a seed-free baseline has one value
    # per city: each run must be compared with ITS city's baseline value, never another's
    better = {(c, s): 0.1 * int(c) + 0.001 * s for c in CITIES for s in SEEDS}
    base = {"0": 0.05, "1": 0.5, "2": 0.0}
    rows = [{"encoder": CLAIM.better, "city": c, "seed": s, "task": CLAIM.task,
             "target": "place", CLAIM.metric: v} for (c, s), v in better.items()]
    rows += [{"encoder": CLAIM.worse, "city": c, "seed": 0, "task": CLAIM.task,
              "target": "place", CLAIM.metric: v} for c, v in base.items()]
    random.Random(1).shuffle(rows)
    a = pairing.run_values(rows, CLAIM.task, CLAIM.metric, CLAIM.better)
    b = pairing.run_values(rows, CLAIM.task, CLAIM.metric, CLAIM.worse)
    d = pairing.paired_differences(a, b)
    assert set(d) == set(better)
    for (c, s), v in d.items():
        assert v == pytest.approx(better[(c, s)] - base[c])
    # a run missing on one side is left out, not matched with another seed or city
    rows = [r for r in rows if not (r["encoder"] == CLAIM.better and r["city"] == "1"
                                    and r["seed"] == 2)]
    res = judge(rows, CLAIM)
    assert res["n_runs"] == 8
    assert res["per_city"]["1"] == pytest.approx(np.mean([0.1 - 0.5, 0.101 - 0.5]))
    # two trained encoders: seed k pairs with seed k of the same city only
    rows = [{"encoder": e, "city": c, "seed": s, "task": CLAIM.task, "target": "place",
             CLAIM.metric: (1.0 if e == CLAIM.better else 0.0) + 10 * int(c) + s}
            for c in CITIES for s in SEEDS for e in (CLAIM.better, CLAIM.worse)]
    random.Random(2).shuffle(rows)
    res = judge(rows, CLAIM)
    assert res["diff"] == pytest.approx(1.0) and res["sd_city"] == pytest.approx(0.0)


def test_spreads_separate_cities_from_seeds() -> None:
    values = {("0", 0): 1.0, ("0", 1): 1.2, ("1", 0): 3.0, ("1", 1): 3.2}
    mean, sd_city, sd_seed = pairing.spread(values)
    assert mean == pytest.approx(2.1)
    assert sd_city == pytest.approx(np.std([1.1, 3.1], ddof=1))
    assert sd_seed == pytest.approx(np.std([1.0, 1.2], ddof=1))
    rows = [{"encoder": "e", "city": c, "seed": s, "task": "vpr", "target": "place", "R@1": v,
             "n": 7} for (c, s), v in values.items()]
    agg = aggregate(rows)[("vpr", "e", "place")]
    assert agg["R@1"][:3] == pytest.approx((mean, sd_city, sd_seed)) and agg["R@1"][3] == 4
    assert "n" not in agg


def test_every_claim_is_also_judged_against_the_strongest_baseline() -> None:
    claim = next(c for c in CLAIMS if c.task == "socioeconomic" and c.worse == "urbanstcl_self")
    rows = []
    for c in CITIES:
        for name, v in ((PIXELS, 0.2), (COORDS, 0.1), (IMAGENET, 0.45), (RANDOM, 0.3)):
            for s in (SEEDS if name == RANDOM else (0,)):
                rows.append({"encoder": name, "city": c, "seed": s, "task": claim.task,
                             "target": "income", claim.metric: v + 0.01 * int(c)})
        for s in SEEDS:
            for enc, v in ((claim.better, 0.5), (claim.worse, 0.1)):
                rows.append({"encoder": enc, "city": c, "seed": s, "task": claim.task,
                             "target": "income", claim.metric: v + 0.01 * s})
    assert strongest_baseline(rows, claim) == IMAGENET
    res = next(r for r in judge_all(rows) if r["claim"] == claim.text)
    assert res["verdict"] == "reproduced"
    strong = res["vs_strongest"]
    assert strong["worse"] == IMAGENET and strong["n_runs"] == 9
    assert strong["diff"] == pytest.approx(0.5 + 0.01 - 0.45 - 0.01)


def test_held_out_places_and_their_buffer() -> None:
    from engine.evaluate.holdout import heldout_mask, training_mask

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 800, size=(2000, 2))
    held = heldout_mask(xy, 200.0, seed=3)
    assert 0.1 < held.mean() < 0.45  # a quarter of the 16 blocks, give or take edge blocks
    np.testing.assert_array_equal(held, heldout_mask(xy, 200.0, seed=3))  # seeded
    assert not np.array_equal(held, heldout_mask(xy, 200.0, seed=4))
    train = training_mask(xy, held, 50.0)
    assert not (train & held).any()
    gaps = np.linalg.norm(xy[train][:, None] - xy[held][None], axis=-1).min()
    assert gaps > 50.0
    assert (~train & ~held).any()  # the buffer is used by nobody


def test_more_smaller_tracts_tile_the_city() -> None:
    import shapely

    from engine.data.sample_city.tracts import check_tract_grid, tract_polygons
    from engine.errors import EngineError

    bounds = (0.0, 0.0, 400.0, 400.0)
    polys = tract_polygons(bounds, check_tract_grid(6), seed=1)
    assert len(polys) == 36
    assert shapely.union_all(polys).area == pytest.approx(400.0 * 400.0, rel=1e-6)
    assert sum(p.area for p in polys) == pytest.approx(400.0 * 400.0, rel=1e-6)  # no overlap
    with pytest.raises(EngineError, match="tract grid"):
        check_tract_grid(1)

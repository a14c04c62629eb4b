"""A partial benchmark run (`--recipes`, `--tasks`): only the named recipes and tasks run,
the report says so, and an unknown name is refused with the flag as hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main as cli_main
from engine.errors import EngineError
from engine.evaluate.runner import check_subset
from engine.evaluate.settings import Settings


def test_partial_run_trains_and_scores_only_the_named_recipe_and_task(small_city: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "docs" / "B.md"
    rc = cli_main(["evaluate", "--quick", "--city", str(small_city), "--work",
                   str(tmp_path / "work"), "--out", str(out), "--threads", "1",
                   "--steps", "3", "--recipes", "lite0_temporal", "--tasks", "vpr"])
    assert rc == 0
    doc = json.loads((out.parent / "B_rows.json").read_text())
    assert {r["task"] for r in doc["rows"]} == {"vpr"}
    encoders = {r["encoder"] for r in doc["rows"]}
    assert "lite0_temporal" in encoders and "imagenet effnet-lite0" in encoders
    assert not encoders & {"urbanstcl_self", "crossview_spatial", "random-init", "csp_grid",
                           "mosaiks"}
    models = {p.name for p in (tmp_path / "work" / "city0" / "models").iterdir()}
    assert "lite0_temporal_s0" in models and "urbanstcl_self_s0" not in models
    text = out.read_text(encoding="utf-8")
    assert "**Partial run** (only recipes lite0_temporal; tasks vpr)" in text
    verdicts = {c["claim"]: c["verdict"] for c in doc["claims"]}
    assert verdicts["UrbanSTCL: spatial positives help socioeconomic prediction (vs self)"] \
        == "not measured"


def test_a_bad_overhead_grid_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    rc = cli_main(["evaluate", "--quick", "--work", str(tmp_path / "work"), "--out",
                   str(tmp_path / "B.md"), "--overhead-grid-m", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "error: --overhead-grid-m must be > 0 metres, got 0.0" in err, err
    assert "Traceback" not in err and not (tmp_path / "work").exists()


def test_an_unknown_recipe_or_task_is_refused_with_its_flag() -> None:
    check_subset(Settings(only_recipes=("lite0_temporal", "csp_rff"), only_tasks=("vpr",)))
    with pytest.raises(EngineError, match="unknown benchmark recipe 'lite0_temperal'") as err:
        check_subset(Settings(only_recipes=("lite0_temperal",)))
    assert "--recipes" in err.value.hint
    with pytest.raises(EngineError, match="unknown benchmark task 'vpr2'") as err:
        check_subset(Settings(only_tasks=("vpr2",)))
    assert "--tasks" in err.value.hint


def test_pretrained_recipes_see_the_photos_at_the_frozen_baselines_size(small_city: Path,
                                                                         tmp_path: Path) -> None:
    from engine.evaluate.recipes import recipe_config, recipe_image_size, recipe_steps
    from engine.evaluate.settings import PRESETS

    s = PRESETS["benchmark"]
    assert s.pretrained_image_size == 128 and s.image_size == 64
    assert recipe_image_size("lite0_spatial", s) == 128
    assert recipe_image_size("urbanstcl_temporal", s) == 64
    assert recipe_steps("lite0_temporal", s) == s.adapter_steps == 1000
    assert recipe_steps("lite0_spatial", s) == s.steps
    cfg = recipe_config("lite0_temporal", small_city, tmp_path / "m", s, 0,
                        recipe_steps("lite0_temporal", s))
    assert (cfg.data.image_size, cfg.train.steps, cfg.train.cached_views,
            cfg.train.batch_size) == (128, 1000, 1, s.batch_size)

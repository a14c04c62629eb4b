"""One harness (issue 10): the demo is a preset of the benchmark's pipeline, the benchmark
never reaches into the demo, and the demo holds no settings, scorers or recipe handling."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a Python file imports (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_evaluate_never_imports_demo() -> None:
    files = sorted((REPO / "engine" / "evaluate").rglob("*.py"))
    assert files
    bad = [f"{p.relative_to(REPO)} imports {m}" for p in files
           for m in sorted(imported_modules(p)) if m.startswith("engine.demo")]
    assert bad == []


def test_demo_is_a_preset_without_its_own_settings_scorers_or_recipes() -> None:
    demo = REPO / "engine" / "demo"
    assert sorted(p.name for p in demo.glob("*.py")) == ["__init__.py", "pipeline.py",
                                                         "report.py"]
    uses = imported_modules(demo / "pipeline.py")
    assert {"engine.evaluate.settings", "engine.evaluate.recipes",
            "engine.evaluate.encoder_run"} <= uses
    for p in demo.glob("*.py"):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        funcs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert classes == [], (p.name, classes)  # no settings dataclass of its own
        assert not funcs & {"pearson", "map_vs_truth", "demo_config", "train_or_reuse"}


def test_one_definition_of_the_correlation_metrics() -> None:
    from engine.evaluate import metrics
    from engine.heads import metrics as head_metrics

    for name in ("pearson", "spearman", "r2", "rmse"):
        assert getattr(metrics, name) is getattr(head_metrics, name)
    from engine.data.sample_city.perception import PERCEPTION
    from engine.data.sample_city.tracts import ATTRIBUTES
    from engine.evaluate import settings, tasks

    assert tasks.PERCEPTION is settings.PERCEPTION is PERCEPTION
    assert tasks.SOCIOECONOMIC is settings.SOCIOECONOMIC is ATTRIBUTES


def test_demo_and_benchmark_build_the_same_training_config(tmp_path: Path) -> None:
    from engine.evaluate.recipes import recipe_config, recipe_image_size, recipe_steps
    from engine.evaluate.settings import settings_for

    city = tmp_path / "city"
    demo = settings_for("demo-quick", "small")
    bench = settings_for("benchmark-quick", "small", steps=demo.steps)
    assert demo.map_recipe == bench.map_recipe
    steps = recipe_steps(demo.map_recipe, demo)
    assert steps == recipe_steps(bench.map_recipe, bench)
    a = recipe_config(demo.map_recipe, city, tmp_path / "m", demo, 0, steps)
    b = recipe_config(bench.map_recipe, city, tmp_path / "m", bench, 0, steps)
    assert a.to_dict() == b.to_dict()
    assert a.data.streetview == str(city / "streetview.gpkg") and a.train.steps == steps
    assert a.data.image_size == recipe_image_size(demo.map_recipe, demo)
    assert a.data.image_size in (32, 64) and a.train.checkpoint_every == 0

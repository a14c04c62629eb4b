"""The experiment pipeline: the seeds' tasks (place recognition, socioeconomic and perception
regression, cross-view retrieval, zero-shot map fidelity, location encoders) on several sample
cities, judged by the pre-registered protocol (docs/BENCHMARK_PROTOCOL.md). The benchmark and
the demo (engine.demo) are presets of it.

    python -m engine.evaluate --out docs/BENCHMARK.md [--quick] [--cities 0 1 2] [--seeds 3]

Modules: settings (one Settings dataclass, named presets), recipes (registry, recipe -> config
through the config loader), city (cities cached per seed), holdout (held-out places), context
(a city loaded once), metrics, baselines, tasks, encoder_run + map_score (the map stages and
the one map scorer), runner (train + evaluate per city and seed), pairing + claims (paired
differences, intervals, verdicts), report.
"""

"""The benchmark: the seeds' tasks (place recognition, socioeconomic and perception regression,
cross-view retrieval, zero-shot map fidelity, location encoders) on the sample city.

    python -m engine.evaluate --out docs/BENCHMARK.md [--quick] [--city DIR] [--seeds 3]

Modules: metrics (pure numpy/faiss scores), baselines (model, random-init and raw-pixel
embedders), context (the city loaded once), tasks, runner (train + evaluate), claims, report.
"""

"""The model folder a command was given, opened once and checked against the recipe schema.

engine.models (inference) never imports engine.train; the CLI sits above both, so it is the
place that checks a model's config.yaml for keys the recipe (engine.train.config.Config) does
not know - a typo such as `data.chip_sise` would otherwise be ignored in silence.
"""

from __future__ import annotations

from pathlib import Path

from engine.models.folder import ModelFolder


def open_model(path: str | Path) -> ModelFolder:
    """ModelFolder.open, then an EngineError naming the first unknown key of config.yaml."""
    from engine.train.config import check_keys

    folder = ModelFolder.open(path)
    if folder.weights is not None:  # a zoo model has no config.yaml to check
        check_keys(folder.doc, f"model config {folder.folder / 'config.yaml'}")
    return folder

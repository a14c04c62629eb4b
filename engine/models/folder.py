"""A model folder, models/<name>/{config.yaml, model.safetensors}, read once per command.

`ModelFolder.open` parses config.yaml once (a missing, unreadable or malformed file is an
EngineError, never a silent `{}`); the GeoModel, its recorded input sizes and its recipe
sections all come from that one parse. `load_model` is the one-line form. A zoo name
(`zoo:efficientnet_lite1`, engine.nn.pretrained.zoo) opens as a folder-less model: the
pretrained network as a frozen embedder, its training resolution as the recorded input sizes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from engine.errors import EngineError
from engine.models import yaml_text
from engine.models.recipe_keys import check_recipe_keys
from engine.models.weights import CONFIG_FILE, check_state, read_weights, weights_path

log = logging.getLogger(__name__)

INPUT_SIZE_KEYS = ("image_size", "chip_size", "chip_res_m")


def _read_doc(cfg_path: Path) -> dict[str, Any]:
    if not cfg_path.is_file():
        raise EngineError(f"model config {cfg_path} is missing",
                          "a model folder holds config.yaml next to model.safetensors")
    try:
        doc = yaml_text.load(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineError(f"model config {cfg_path} cannot be read: {exc}",
                          "check the file's permissions, or re-copy the model") from None
    except yaml.YAMLError as exc:
        raise EngineError(f"model config {cfg_path} is not valid YAML: {exc}",
                          "re-train or restore the file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise EngineError(f"model config {cfg_path} has no `model:` section",
                          "it must hold the model settings written at training time")
    return doc


@dataclass(frozen=True)
class ModelFolder:
    """models/<name>: the weights file and the parsed config.yaml (recipe + `model:`)."""

    folder: Path
    weights: Path | None  # None for a zoo model
    doc: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> ModelFolder:
        """Check the weights file and parse config.yaml of a folder (or of a weights file);
        a zoo name gives its frozen pretrained network."""
        from engine.nn.pretrained.zoo import is_zoo_name, zoo_input_sizes, zoo_model_config

        if is_zoo_name(path):
            name = str(path)
            return cls(folder=Path(name), weights=None,
                       doc={"model": zoo_model_config(name), "data": zoo_input_sizes(name)})
        path = Path(path)
        weights = weights_path(path)
        folder = path if path.is_dir() else path.parent
        doc = _read_doc(folder / CONFIG_FILE)
        check_recipe_keys(doc, f"model config {folder / CONFIG_FILE}")
        return cls(folder=folder, weights=weights, doc=doc)

    @classmethod
    def of(cls, model: str | Path | ModelFolder) -> ModelFolder:
        """`model` itself when already opened, else ModelFolder.open(model)."""
        return model if isinstance(model, ModelFolder) else cls.open(model)

    @property
    def name(self) -> str:
        """A short model name for metadata: the models/<name> folder name."""
        return self.folder.name

    @cached_property
    def identity(self) -> str:
        """What made a set of features, for the heads' provenance check (engine.maps.
        provenance): the zoo name, or `sha256:` + the first 16 hex digits of the weights
        file's SHA-256, so a renamed folder keeps it and a retrained model changes it."""
        if self.weights is None:
            return str(self.folder)
        digest = hashlib.sha256()
        with open(self.weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()[:16]

    @property
    def model_config(self) -> dict[str, Any]:
        """The `model:` section: the GeoModel's architecture."""
        return self.doc["model"]

    def section(self, key: str) -> dict[str, Any]:
        """A recipe section of config.yaml (`data`, `objectives`, ...), {} when absent."""
        value = self.doc.get(key)
        return value if isinstance(value, dict) else {}

    def input_sizes(self) -> dict[str, Any]:
        """image_size, chip_size, chip_res_m recorded under `data:` at training time, if any."""
        data = self.section("data")
        return {k: data[k] for k in INPUT_SIZE_KEYS if data.get(k)}

    def raster_record(self) -> dict[str, Any] | None:
        """What the model expects of a raster (`input:`: bands, scaling, statistics, gsd_m,
        chip), written by overhead-only training; None for 8-bit RGB models (engine.data.
        radiometry.legacy)."""
        rec = self.section("input")
        return rec if rec.get("bands") else None

    def build(self) -> Any:
        """The GeoModel of `model:` with freshly initialised weights (no file read)."""
        from engine.nn import GeoModel

        return GeoModel.from_config(self.model_config)

    def load(self, map_location: str = "cpu") -> Any:
        """The GeoModel with its weights (every key and shape checked), in eval mode."""
        if self.weights is None:
            from engine.nn.pretrained.zoo import zoo_model

            return zoo_model(str(self.folder), map_location)
        weights = read_weights(self.weights)
        model = self.build()
        check_state(model.state_dict(), weights, self.weights)
        model.load_state_dict(weights, strict=True)
        log.info("loaded model %s (%d tensors)", self.weights, len(weights))
        return model.to(map_location).eval()


def load_model(path_or_dir: str | Path, map_location: str = "cpu") -> Any:
    """Rebuild a GeoModel from models/<name>/ (config.yaml + model.safetensors), eval mode;
    a zoo name (`zoo:efficientnet_lite1`) gives that pretrained network as a frozen embedder."""
    return ModelFolder.open(path_or_dir).load(map_location)


def read_model_config(path: str | Path) -> dict[str, Any]:
    """The `model:` section of the config.yaml beside `path` (a folder or weights file)."""
    path = Path(path)
    return _read_doc((path if path.is_dir() else path.parent) / CONFIG_FILE)["model"]

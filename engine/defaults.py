"""Defaults and choices shared by the CLI, the Python API, training, the demo, the benchmark
and (checked by a contract test) the QGIS plugin's parameter definitions: each defined once.

Torch-free and import-free, so `python -m engine defaults --json` stays fast.
"""

from __future__ import annotations

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DEVICE = "auto"  # CUDA when available, else CPU (engine.models.device.resolve_device)

FIELD_DTYPES: tuple[str, ...] = ("float16", "int8", "float32")  # embedding-field storage
FIELD_DTYPE = "float16"
ENCODERS: tuple[str, ...] = ("auto", "overhead", "image")  # which encoder embeds a raster
ENCODER = "auto"
# what runs the encoder when embedding (engine.embed.accel): auto = OpenVINO (else ONNX
# Runtime) on CPU for pretrained (timm / zoo) backbones, faster with equal features; else torch
RUNTIMES: tuple[str, ...] = ("auto", "torch", "onnxruntime", "openvino")
RUNTIME = "auto"

IMAGE_PX = 64  # street-photo side the model sees, unless the model records its own
CHIP_PX = 64  # overhead chip side in raster pixels, unless the model records its own
STRIDE_PER_CHIP = 4  # an embedding-field pixel covers chip / 4 raster pixels by default

TRAIN_STEPS = 300  # optimisation steps of a recipe that names none
TRAIN_BATCH = 32
EMBED_BATCH = 64  # photos or chips per forward pass when embedding
EMBED_WORKERS = 2  # photo-decoding processes of embed-points

HEADS: tuple[str, ...] = ("ridge", "logistic", "knn")  # `fit --head`
HEAD = "ridge"
CLASSIFIERS: tuple[str, ...] = ("logistic", "knn")  # `map fewshot --classifier`
CLASSIFIER = "logistic"
BLOCK_M: float | None = None  # CV block side (metres); None: derived from the labels' geometry
# (engine.heads.spatial_cv.derive_block_size: 2 x the median polygon diameter, or the points'
# extent cut into about 4 blocks per fold), with the folds checked against the blocks
FOLDS = 5
FEWSHOT_FOLDS = 3  # `map fewshot`: few examples, few folds
GRID_STEP_M = 20.0  # `map location` grid step (metres)


def default_stride(chip_px: int) -> int:
    """Raster pixels per embedding-field pixel when none is given: a quarter of the chip."""
    return max(1, int(chip_px) // STRIDE_PER_CHIP)


def as_dict() -> dict[str, object]:
    """Every default above by name (what `python -m engine defaults` reports)."""
    return {name.lower(): value for name, value in globals().items()
            if name.isupper() and isinstance(value, (str, int, float, tuple))}

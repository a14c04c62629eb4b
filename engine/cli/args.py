"""argparse value types with ranges: a bad number is refused up front, naming the flag.

argparse reports the flag ("argument --chip: 0 is not in 4..4096"); engine.cli.main turns it
into one error line (or an error event with `--events jsonl`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

MAX_CHIP_PX = 4096
MAX_IMAGE_PX = 2048
MAX_BATCH = 65536
MAX_WORKERS = 64


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in lo..hi."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is not in {lo}..{hi}")
        return value

    parse.__name__ = "int"
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


positive_float.__name__ = "float"


def file_stem(text: str) -> str:
    """An argparse type: an output name inside the output folder (no folder part, no leading
    dot, no character a GeoPackage layer name or a file name on Windows refuses)."""
    bad = sorted(set(text) & set('/\\:*?"<>|'))
    if not text.strip() or text.startswith(".") or bad or any(ord(c) < 32 for c in text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a plain file name" + (f" (it contains {' '.join(bad)})" if bad
                                                    else "")
            + "; give a name such as income_2024 (the folder goes in --out)")
    return text


file_stem.__name__ = "name"


def model_help() -> str:
    """--model's help for the commands that also take a zoo name (engine.nn.pretrained.zoo)."""
    from engine.nn.pretrained.zoo import zoo_names

    return ("model folder (models/<name> with config.yaml + model.safetensors) or a zoo name "
            f"({', '.join(zoo_names())}; a frozen ImageNet network at its native input size)")


def add_runtime_argument(parser: argparse.ArgumentParser) -> None:
    """--runtime of the embedding commands (engine.embed.accel)."""
    from engine.defaults import RUNTIME, RUNTIMES

    parser.add_argument("--runtime", choices=RUNTIMES, default=RUNTIME,
                        help="what runs the encoder; auto: OpenVINO (else ONNX Runtime) on CPU "
                        "for pretrained (zoo/timm) backbones, faster with equal features "
                        "(checked on the first batch), else torch")


def add_photo_dir_argument(parser: argparse.ArgumentParser) -> None:
    """--photo-dir: where a layer's relative photo paths start (a copy of a layer)."""
    parser.add_argument("--photo-dir", type=Path, default=None,
                        help="folder the layer's relative photo paths start from (default: "
                        "the layer's own folder; give the original's folder for a copy of "
                        "a layer saved elsewhere)")

"""The fast CPU inference path: an encoder exported to ONNX and run by ONNX Runtime.

Measured by bench/cpu_inference.py (docs/PERFORMANCE.md): on the pretrained EfficientNet-Lite
backbones ONNX Runtime is the fastest of torch eager, eager channels_last, torch.compile and
ONNX Runtime, with the same features (max abs diff ~1e-5); on the small tiny_cnn it gains
nothing. So runtime "auto" picks ONNX Runtime on CPU for models with a pretrained backbone
(zoo: or timm:) and jobs of at least MIN_ITEMS chips/photos, torch otherwise; "torch" /
"onnxruntime" force one. The graph is exported in memory on the first batch (batch size
dynamic, chip size fixed; a new chip size re-exports), nothing is cached on disk, and that
first batch is also run by torch: when the two disagree beyond TOLERANCE the encoder stays
on torch (logged), so the fast path never changes what a user gets.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable
from typing import Any

from engine.defaults import RUNTIME, RUNTIMES

log = logging.getLogger(__name__)

# "auto" skips ONNX Runtime for jobs smaller than this (chips or photos): exporting and
# checking the graph costs seconds (5-16 s for EfficientNet-Lite0 on 2 busy cores), about
# what ONNX Runtime saves on a thousand 64 px chips
MIN_ITEMS = 2000
TOLERANCE = 1e-4  # max abs difference from torch, relative to the largest |value| (>= 1)


def onnxruntime_available() -> bool:
    """Whether onnxruntime and onnx (torch's exporter needs it) import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def wants_onnxruntime(model: Any, device: Any, runtime: str, n_items: int | None = None) -> bool:
    """Resolve `runtime` for this model, device and job size (see the module docstring)."""
    from engine.errors import EngineError

    if runtime not in RUNTIMES:
        raise EngineError(f"unknown runtime {runtime!r}", f"use --runtime {' / '.join(RUNTIMES)}")
    if runtime == "torch" or device.type != "cpu":
        if runtime == "onnxruntime" and device.type != "cpu":
            log.warning("--runtime onnxruntime is for CPU; on %s torch runs the model", device)
        return False
    if not onnxruntime_available():
        if runtime == "onnxruntime":
            raise EngineError("--runtime onnxruntime needs the onnxruntime and onnx packages",
                              "install them (pip install -c constraints.txt onnxruntime onnx) "
                              "or use --runtime torch")
        return False
    if runtime == "onnxruntime":
        return True
    if n_items is not None and n_items < MIN_ITEMS:
        return False
    from engine.nn.backbones import TimmBackbone
    from engine.nn.zoo_backbone import ZooBackbone

    return any(isinstance(m, (TimmBackbone, ZooBackbone)) for m in model.modules())


def _as_module(model: Any, method: str) -> Any:
    """`model.<method>` as an eval-mode nn.Module, so torch.onnx.export sees one forward."""
    import torch

    class Encode(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return getattr(self.model, method)(x)

    return Encode().eval()


class OrtEncoder:
    """Callable (B,3,H,W) float tensor -> (B,D) float tensor, run by ONNX Runtime."""

    def __init__(self, model: Any, method: str) -> None:
        self.model, self.method = model, method
        self.session: Any = None
        self.shape: tuple[int, ...] | None = None
        self.fallback = False

    def _build(self, x: Any) -> None:
        import onnxruntime as ort
        import torch

        buf = io.BytesIO()
        # torch 2.14's TorchScript exporter (no extra dependency; the dynamo one needs
        # onnxscript) warns that it is legacy and about traced shape checks: not for users
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_as_module(self.model, self.method), (x.clone(),), buf,
                              input_names=["x"], output_names=["y"], dynamo=False,
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                              opset_version=17)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        opts.inter_op_num_threads = 1
        # no busy-waiting between batches: the chip reader thread shares the cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(buf.getvalue(), opts,
                                            providers=["CPUExecutionProvider"])
        self.shape = tuple(x.shape[1:])

    def __call__(self, x: Any) -> Any:
        import torch

        torch_fn = getattr(self.model, self.method)
        if self.fallback:
            return torch_fn(x)
        first = self.shape != tuple(x.shape[1:])
        if first:
            try:
                self._build(x)
            except Exception as exc:
                log.warning("ONNX export of %s failed (%s); running it on torch", self.method,
                            str(exc).splitlines()[0][:200])
                self.fallback = True
                return torch_fn(x)
        y = torch.from_numpy(self.session.run(None, {"x": x.contiguous().numpy()})[0])
        if first:
            ref = torch_fn(x)
            diff = float((y - ref).abs().max()) if len(x) else 0.0
            scale = max(1.0, float(ref.abs().max())) if len(x) else 1.0
            if diff > TOLERANCE * scale:
                log.warning("ONNX Runtime differs from torch by %.2g on %s; running it on torch",
                            diff, self.method)
                self.fallback = True
                return ref
            log.info("%s runs on ONNX Runtime (max abs diff to torch %.2g)", self.method, diff)
        return y


def encoder_fn(model: Any, method: str, device: Any, runtime: str = RUNTIME,
               n_items: int | None = None) -> Callable[[Any], Any]:
    """The function that embeds a normalised batch: model.<method>, or its ONNX Runtime twin
    (`n_items`: the job's chips or photos, when known)."""
    if wants_onnxruntime(model, device, runtime, n_items):
        return OrtEncoder(model, method)
    return getattr(model, method)

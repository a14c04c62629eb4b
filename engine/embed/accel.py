"""The fast CPU inference paths: an encoder exported to ONNX, run by OpenVINO or ONNX Runtime.

Measured by bench/cpu_inference.py (docs/PERFORMANCE.md): on the pretrained EfficientNet-Lite
backbones OpenVINO (fp32 inference forced: on CPUs with bf16 it would otherwise compute in
bf16) is the fastest of torch eager, eager channels_last, torch.compile, ONNX Runtime and
OpenVINO, with the same features (max abs diff ~1e-6); on the small tiny_cnn they gain
nothing. So runtime "auto" picks, on CPU, for models with a pretrained backbone (zoo: or timm:)
and jobs of at least MIN_ITEMS chips/photos, the first installed of OpenVINO and ONNX Runtime,
torch otherwise; "torch" / "onnxruntime" / "openvino" force one. The graph is exported in
the first batch (batch size dynamic, chip size fixed; a new chip size re-exports) and kept
under EXPORT_DIR, keyed by the SHA-256 of the weights, method, input shape and torch version
(exporting Lite0 costs ~0.9 s a job; an ONNX file is a graph of standard operators, data and
no code); OpenVINO keeps its compiled models beside them (EXPORT_DIR/openvino). The first
CHECK_ITEMS items of that batch are also run by torch: when the two disagree beyond TOLERANCE
the encoder stays on torch (logged), so the fast path never changes what a user gets,
whatever the cached files hold.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.defaults import RUNTIME, RUNTIMES
from engine.paths import cache_dir

log = logging.getLogger(__name__)

# "auto" keeps torch for jobs smaller than this (chips or photos). EfficientNet-Lite0 on 1 idle
# core: OpenVINO saves ~0.9 ms a 64 px chip over eager (1,190 vs 577 chips/s); the fixed cost
# is ~1.1 s the first time (export 0.86 s + compile 0.22 s: ~1,200 chips to pay off) and
# ~0.15 s once the graph and compiled model are kept (~170 chips)
MIN_ITEMS = 500
TOLERANCE = 1e-4  # max abs difference from torch, relative to the largest |value| (>= 1)
CHECK_ITEMS = 8  # items of the first batch also run by torch to check the exported graph
FAST_RUNTIMES: tuple[str, ...] = ("openvino", "onnxruntime")  # "auto"'s order of preference
# OpenVINO runs a batch in chunks of about this many pixels (at least 8 items): Lite0 on one
# idle core, 64 px: 1,270 chips/s in chunks of 32 against 1,150 in 64; 128 px: 332 photos/s
# in 8 against 276 in 64; 224 px: flat (bench/cpu_inference.py's set-up, batch sizes varied)
OV_CHUNK_PIXELS = 32 * 64 * 64
EXPORT_DIR = cache_dir() / "exported"  # beside the zoo weights
EXPORT_VERSION = "1"  # bump when the export's settings change: older files are not reused


def available(runtime: str) -> bool:
    """Whether `runtime`'s package is installed (with onnx, which torch's exporter needs).
    Found, not imported (~0.3 s): the import happens while the session is built, and a
    package that fails to import there leaves the encoder on torch (logged)."""
    from importlib.util import find_spec

    try:
        return all(find_spec(name) is not None for name in ("onnx", runtime))
    except (ImportError, ValueError):  # e.g. a module set to None in sys.modules
        return False


def prepare(encode: Callable[[Any], Any], shape: tuple[int, ...]) -> None:
    """Start building an exported encoder's session for inputs of `shape` (no-op on torch)."""
    if isinstance(encode, ExportedEncoder):
        encode.prepare(shape)


def pick_runtime(model: Any, device: Any, runtime: str, n_items: int | None = None) -> str:
    """"torch", "onnxruntime" or "openvino" for this model, device and job size (module doc)."""
    from engine.errors import EngineError

    if runtime not in RUNTIMES:
        raise EngineError(f"unknown runtime {runtime!r}", f"use --runtime {' / '.join(RUNTIMES)}")
    if runtime == "torch" or device.type != "cpu":
        if runtime != "torch" and runtime != "auto":
            log.warning("--runtime %s is for CPU; on %s torch runs the model", runtime, device)
        return "torch"
    if runtime in FAST_RUNTIMES:
        if not available(runtime):
            raise EngineError(f"--runtime {runtime} needs the {runtime} and onnx packages",
                              f"install them (pip install -c constraints.txt {runtime} onnx) "
                              "or use --runtime torch")
        return runtime
    if n_items is not None and n_items < MIN_ITEMS:
        return "torch"
    from engine.nn.backbones import TimmBackbone
    from engine.nn.zoo_backbone import ZooBackbone

    if not any(isinstance(m, (TimmBackbone, ZooBackbone)) for m in model.modules()):
        return "torch"
    return fastest_installed()


def fastest_installed() -> str:
    """The first installed of FAST_RUNTIMES, else "torch"."""
    return next((r for r in FAST_RUNTIMES if available(r)), "torch")


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


class ExportedEncoder:
    """Callable (B,3,H,W) float tensor -> (B,D) float tensor, run from the encoder's ONNX
    graph by a subclass's `_session` / `_run`."""

    runtime = ""

    def __init__(self, model: Any, method: str) -> None:
        self.model, self.method = model, method
        self.session: Any = None
        self.shape: tuple[int, ...] | None = None  # the input shape the session is for
        self.checked: tuple[int, ...] | None = None  # the shape checked against torch
        self.fallback = False
        self.cached: Path | None = None  # the exported graph's file, when there is one
        self._building: threading.Thread | None = None
        self._build_error: Exception | None = None

    def prepare(self, shape: tuple[int, ...]) -> None:
        """Start building the session for inputs of `shape` (B, C, H, W) in a thread, so the
        import, export and compile overlap the job's own set-up (reading the first chips);
        the first call waits for it."""
        import torch

        x = torch.zeros(shape)

        def work() -> None:
            try:
                self._build(x)
            except Exception as exc:  # reported by the first call, which falls back
                self._build_error = exc

        self._building = threading.Thread(target=work, name="encoder-build", daemon=True)
        self._building.start()

    def _wait_prepared(self) -> Exception | None:
        if self._building is None:
            return None
        self._building.join()
        self._building, err, self._build_error = None, self._build_error, None
        return err

    def _session(self, graph: bytes) -> Any:
        raise NotImplementedError

    def _run(self, x: Any) -> Any:
        raise NotImplementedError

    def _key(self, x: Any) -> str:
        """SHA-256 of what the exported graph depends on."""
        import torch

        h = hashlib.sha256(f"{EXPORT_VERSION}|{torch.__version__}|{self.method}|"
                           f"{tuple(x.shape[1:])}|{x.dtype}".encode())
        for name, t in self.model.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def _export(self, x: Any) -> bytes:
        """The encoder as an ONNX graph (batch dynamic, the rest of x's shape fixed)."""
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
        return buf.getvalue()

    def _build(self, x: Any) -> None:
        """The session for x's shape: from the exported file when it loads, else exported now
        (and kept, unless the install is read-only)."""
        from engine.export.atomic import atomic_path

        self.cached = EXPORT_DIR / f"{self._key(x)[:32]}.onnx"
        self.shape = tuple(x.shape[1:])
        if self.cached.is_file():
            try:
                self.session = self._session(self.cached.read_bytes())
                return
            except Exception as exc:  # a damaged file: export again
                log.warning("dropping the unreadable exported graph %s (%s)", self.cached,
                            str(exc).splitlines()[0][:200])
                self._forget()
        graph = self._export(x)
        self.session = self._session(graph)
        with contextlib.suppress(OSError):  # a read-only install exports every time
            with atomic_path(self.cached) as tmp:
                tmp.write_bytes(graph)

    def _forget(self) -> None:
        """Remove the exported graph's file (it failed to load or to match torch)."""
        if self.cached is not None:
            with contextlib.suppress(OSError):
                self.cached.unlink()

    def __call__(self, x: Any) -> Any:
        import torch

        torch_fn = getattr(self.model, self.method)
        err = self._wait_prepared()
        if self.fallback:
            return torch_fn(x)
        try:
            if err is not None:
                raise err
            if self.shape != tuple(x.shape[1:]):
                self._build(x)
        except Exception as exc:
            log.warning("%s could not run %s (%s); running it on torch", self.runtime,
                        self.method, str(exc).splitlines()[0][:200])
            self.fallback = True
            return torch_fn(x)
        y = torch.from_numpy(self._run(x))
        first = self.checked != self.shape
        if first:
            self.checked = self.shape
            ref = torch_fn(x[:CHECK_ITEMS])
            diff = float((y[:CHECK_ITEMS] - ref).abs().max()) if len(x) else 0.0
            scale = max(1.0, float(ref.abs().max())) if len(x) else 1.0
            if diff > TOLERANCE * scale:
                log.warning("%s differs from torch by %.2g on %s; running it on torch",
                            self.runtime, diff, self.method)
                self._forget()
                self.fallback = True
                return torch_fn(x)
            log.info("%s runs on %s (max abs diff to torch %.2g)", self.method, self.runtime,
                     diff)
        return y


class OrtEncoder(ExportedEncoder):
    """The exported graph run by ONNX Runtime."""

    runtime = "onnxruntime"

    def _session(self, graph: bytes) -> Any:
        import onnxruntime as ort
        import torch

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        opts.inter_op_num_threads = 1
        # no busy-waiting between batches: the chip reader thread shares the cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    def _run(self, x: Any) -> Any:
        return self.session.run(None, {"x": x.contiguous().numpy()})[0]


class OpenVinoEncoder(ExportedEncoder):
    """The exported graph compiled by OpenVINO for the CPU, in fp32."""

    runtime = "openvino"

    def _session(self, graph: bytes) -> Any:
        import openvino as ov
        import torch

        core = ov.Core()
        cache = EXPORT_DIR / "openvino"  # OpenVINO's compiled models: compiling 0.22 -> 0.04 s
        with contextlib.suppress(OSError):
            cache.mkdir(parents=True, exist_ok=True)
        if os.access(cache, os.W_OK):  # a read-only install compiles every time
            core.set_property({"CACHE_DIR": str(cache)})
        # fp32 forced (bf16-capable CPUs default to bf16, ~0.02 off); one stream, as many
        # threads as torch is given; no CPU pinning (the chip reader thread shares the cores)
        return core.compile_model(core.read_model(graph), "CPU", {
            "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": max(1, torch.get_num_threads()),
            "ENABLE_CPU_PINNING": False})

    def _run(self, x: Any) -> Any:
        import numpy as np

        arr = x.contiguous().numpy()
        step = max(8, OV_CHUNK_PIXELS // max(1, arr.shape[2] * arr.shape[3]))
        if len(arr) <= step:
            return self.session(arr)[0]
        return np.concatenate([self.session(arr[i:i + step])[0]
                               for i in range(0, len(arr), step)])


def encoder_fn(model: Any, method: str, device: Any, runtime: str = RUNTIME,
               n_items: int | None = None) -> Callable[[Any], Any]:
    """The function that embeds a normalised batch: model.<method>, or its OpenVINO / ONNX
    Runtime twin (`n_items`: the job's chips or photos, when known)."""
    chosen = pick_runtime(model, device, runtime, n_items)
    if chosen == "openvino":
        return OpenVinoEncoder(model, method)
    if chosen == "onnxruntime":
        return OrtEncoder(model, method)
    from engine.embed.batch_shape import one_shape

    return one_shape(getattr(model, method), device)

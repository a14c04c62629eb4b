"""Training checkpoints: <run>/checkpoints/step-NNNNNNN/ + checkpoints/latest.json.

A checkpoint folder holds model.safetensors (GeoModel), objectives.safetensors (each
objective's parameters and buffers under "<name>.", the momentum encoder under
"momentum."), state.safetensors + state.json (optimizer, RNG states, data position, loss
history). It is written under a temporary name and renamed, then latest.json is replaced:
a crash leaves the previous checkpoint intact. No pickle anywhere.

One checkpoints folder holds one run. `checkpoints/` belongs to the model the output folder
holds; a new run (no --resume) checkpoints into `checkpoints.next/` and its final commit
(engine.train.outputs.write_final) moves that over `checkpoints/` with the model: an earlier
run's checkpoints never sit beside a new model, and stay whole until the new run succeeds.
--resume continues an interrupted new run (`checkpoints.next/`) when there is one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from engine.errors import EngineError
from engine.export.atomic import atomic_path
from engine.models.weights import MODEL_FILE, check_state, read_weights, tensors_of
from engine.train.config import Config
from engine.train.parts import TrainParts
from engine.train.state import load_state, rng_state, save_state, set_rng_state

log = logging.getLogger(__name__)

KEEP = 2
OBJECTIVES_FILE = "objectives.safetensors"
CHECKPOINTS = "checkpoints"  # the checkpoints of the model the output folder holds
NEXT = "checkpoints.next"  # a new run's, until its final commit
POINTER = "latest.json"


def run_root(out_dir: Path, resume: bool) -> Path:
    """Where this run's checkpoints go: a new run's into NEXT; a resumed run's where its
    checkpoint is (an interrupted new run's NEXT, else CHECKPOINTS)."""
    out_dir = Path(out_dir)
    if not resume or (out_dir / NEXT / POINTER).is_file():
        return out_dir / NEXT
    return out_dir / CHECKPOINTS


def objective_tensors(parts: TrainParts) -> dict[str, torch.Tensor]:
    """Objective parameters/buffers (prefix "<name>.") and the momentum encoder ("momentum.")."""
    tensors: dict[str, torch.Tensor] = {}
    for name, _, obj in parts.objectives:
        tensors.update(tensors_of(obj, f"{name}."))
    if parts.momentum is not None:
        tensors.update(tensors_of(parts.momentum, "momentum."))
    return tensors


def generators(parts: TrainParts) -> dict[str, torch.Generator]:
    """torch.Generators held by objectives (e.g. negative sampling), by "<name>.<path>"."""
    found = {}
    for name, _, obj in parts.objectives:
        for mod_name, mod in obj.named_modules():
            for attr, value in vars(mod).items():
                if isinstance(value, torch.Generator):
                    found[".".join(p for p in (name, mod_name, attr) if p)] = value
    return found


def save(root: Path, cfg: Config, parts: TrainParts, pos: dict[str, int],
         history: list[list[float]], first: bool = False) -> Path:
    """Write the checkpoint for pos["step"] into `root` (run_root); keep the last KEEP; return
    its folder. `first`: a new run's first checkpoint, after which every other checkpoint in
    `root` (an abandoned run's, never resumed) is removed."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{pos['step']:07d}"
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        save_file(tensors_of(parts.model), str(tmp / MODEL_FILE),
                  metadata={"format": "geocontrast", "config": json.dumps(parts.model.config)})
        save_file(objective_tensors(parts), str(tmp / OBJECTIVES_FILE))
        state = {"optimizer": parts.optimizer.state_dict(), "rng": rng_state(),
                 "generators": {k: g.get_state() for k, g in generators(parts).items()},
                 "position": dict(pos), "history": history, "model_config": parts.model.config,
                 "objectives": [n for n, _, _ in parts.objectives], "config": cfg.to_dict()}
        save_state(state, tmp / "state.safetensors", tmp / "state.json")
        final = root / name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with atomic_path(root / POINTER) as p:
        p.write_text(json.dumps({"step": pos["step"], "dir": name}), encoding="utf-8")
    steps = sorted(root.glob("step-*"))
    for old in ([s for s in steps if s != final] if first else steps[:-KEEP]):
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint %s%s", final, f" (moved to {CHECKPOINTS}/ when the run finishes)"
             if root.name == NEXT else "")
    return final


def latest(out_dir: Path) -> Path:
    """The newest complete checkpoint folder to resume, or an EngineError saying there is
    none."""
    pointer = run_root(out_dir, resume=True) / POINTER
    if not pointer.is_file():
        raise EngineError(f"--resume: no checkpoint in {pointer.parent}",
                          "run without --resume first (or check `output` / `name`)")
    try:
        folder = pointer.parent / json.loads(pointer.read_text(encoding="utf-8"))["dir"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EngineError(f"--resume: {pointer} is corrupt ({exc})",
                          "train from the start without --resume (that run replaces it)") from None
    if not folder.is_dir():
        raise EngineError(f"--resume: checkpoint folder {folder} is missing",
                          "train from the start without --resume (that run replaces it)")
    return folder


def _load_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str,
               source: Path) -> None:
    own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    check_state(module.state_dict(), own, source)
    module.load_state_dict(own, strict=True)


# settings a resumed run may change: how long, how often to log/save, where it runs
RESUME_FREE = frozenset({"train.steps", "train.log_every", "train.checkpoint_every",
                         "train.device", "train.prefetch", "train.write_digest",
                         "train.workers", "train.feature_cache", "data.cache_images"})


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_changes(saved: dict[str, Any], now: dict[str, Any]) -> dict[str, list[Any]]:
    """{dotted key: [value in the checkpoint, value now]} for hyperparameters that differ."""
    a, b = _flat(saved), _flat(now)
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b))
            if k not in RESUME_FREE and a.get(k) != b.get(k)}


def restore(out_dir: Path, parts: TrainParts, cfg: Config | None = None,
            allow_changes: bool = False) -> tuple[dict[str, int], list[list[float]]]:
    """Load the latest checkpoint into `parts`; return (data position, loss history).

    A recipe whose hyperparameters differ from the checkpoint's (other than RESUME_FREE) is
    refused unless `allow_changes`; then `parts.resume_changes` records what changed.
    """
    folder = latest(out_dir)
    state = load_state(folder / "state.safetensors", folder / "state.json")
    if cfg is not None and isinstance(state.get("config"), dict):
        changes = config_changes(state["config"], cfg.to_dict())
        if changes and not allow_changes:
            shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in list(changes.items())[:4])
            raise EngineError(f"--resume: the run checkpointed in {folder.parent} was trained "
                              f"with other settings ({shown})",
                              "resume with the same recipe and overrides, or pass "
                              "--allow-changed-config to continue with the new values")
        if changes:
            log.warning("resuming %s at step %s with changed settings: %s", out_dir,
                        state["position"].get("step"), changes)
            parts.resume_changes = {"step": int(state["position"]["step"]),
                                    "changes": changes}
    names = [n for n, _, _ in parts.objectives]
    if state.get("objectives") != names or state.get("model_config") != parts.model.config:
        raise EngineError(f"--resume: checkpoint {folder} was made with another recipe "
                          f"(objectives {state.get('objectives')})",
                          "resume with the same recipe and overrides, or train from the start")
    weights_path = folder / MODEL_FILE
    _load_into(parts.model, read_weights(weights_path), "", weights_path)
    obj_path = folder / OBJECTIVES_FILE
    obj_tensors = read_weights(obj_path)
    for name, _, obj in parts.objectives:
        _load_into(obj, obj_tensors, f"{name}.", obj_path)
    if parts.momentum is not None:
        _load_into(parts.momentum, obj_tensors, "momentum.", obj_path)
    parts.optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    for key, gen in generators(parts).items():
        gen.set_state(state["generators"][key])
    pos = {k: int(v) for k, v in state["position"].items()}
    return pos, [list(row) for row in state["history"]]

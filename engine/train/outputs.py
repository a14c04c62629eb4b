"""What a finished run leaves in models/<name>/: model + config, objective state, loss.csv,
loss.png, card.md and its checkpoints/, committed together (one journaled commit: an earlier
run's files are all replaced or none), and on request a per-rank weights digest for DDP checks.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from engine.export.atomic import atomic_path, staged_folder
from engine.models.weights import save_model
from engine.train.checkpoint_io import CHECKPOINTS, NEXT, OBJECTIVES_FILE, objective_tensors
from engine.train.config import Config
from engine.train.parts import TrainParts
from engine.train.run_folder import COMMIT_KEY, RUN_FILES

log = logging.getLogger(__name__)

DIGESTS = "digests"


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        t = value.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def write_digest(out_dir: Path, model: torch.nn.Module, rank: int) -> Path:
    """digests/rank<R>.txt (only when train.write_digest is set: a debugging aid)."""
    target = Path(out_dir) / DIGESTS / f"rank{rank}.txt"
    with atomic_path(target) as tmp:
        tmp.write_text(weights_digest(model) + "\n", encoding="utf-8")
    return target


def write_loss_csv(path: Path, names: list[str], history: list[list[float]]) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "total", *names])
        for row in history:
            writer.writerow([int(row[0]), *(f"{v:.6g}" for v in row[1:])])
    return path


def write_loss_png(path: Path, names: list[str], history: list[list[float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = [row[0] for row in history]
    ax.plot(steps, [row[1] for row in history], label="total", color="black")
    for k, name in enumerate(names):
        ax.plot(steps, [row[2 + k] for row in history], label=name, alpha=0.7)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _data_lines(cfg: Config, info: dict[str, Any], parts: TrainParts) -> str:
    """The card's data section: photos and pairs, or the rasters of an overhead-only run."""
    keys = ", ".join(parts.keys)
    if cfg.overhead_only:
        return (f"- overhead only (no photos): {', '.join(map(str, info['rasters']))}\n"
                f"- {info['radiometry']}; {info['gsd_m']:g} m pixels; chips "
                f"{info['chip_px']} px = {info['chip_m']:g} m; {info['anchors']} anchor places\n"
                f"- batch keys: {keys}\n")
    return (f"- street-view layer: `{info['streetview']}` ({info['photos']} photos, "
            f"{info['anchors']} used as anchors)\n"
            f"- positive pairs: {info['pairs'] or 'none mined'}\n"
            f"- overhead rasters: {len(info['overhead'])} ({', '.join(info['overhead_dates'])})\n"
            f"- batch keys: {keys}; image size {cfg.data.image_size} px (resize policy "
            f"`{cfg.data.resize}`, recorded as data.resize)\n"
            f"- panorama views: {info.get('panorama_views') or 'none'}\n")


def card_text(cfg: Config, parts: TrainParts, history: list[list[float]],
              result: dict[str, Any], machine: str) -> str:
    """The model card: data, objectives, steps, final loss, time, machine, versions."""
    info = parts.data_info
    objectives = "\n".join(
        f"- `{name}`: weight {weight:g}; settings "
        f"{ {k: v for k, v in cfg.objectives[name].items() if k != 'weight'} }"
        for name, weight, _ in parts.objectives)
    n_params = sum(p.numel() for p in parts.model.parameters())
    final = f"{history[-1][1]:.4f}" if history else "n/a"
    changed = result.get("resumed_with_changes")
    resumed = "" if not changed else (
        f"- resumed at step {changed['step']} with changed settings (the values above are "
        "the new ones): " + "; ".join(f"{k} {a!r} -> {b!r}"
                                      for k, (a, b) in changed["changes"].items()) + "\n")
    first = f"{history[0][1]:.4f}" if history else "n/a"
    return (
        f"# {cfg.name}\n\n"
        "GeoContrast model pretrained without labels, from the geography of its data.\n\n"
        "## Data\n\n"
        f"{_data_lines(cfg, info, parts)}\n"
        f"## Objectives\n\n{objectives}\n\n"
        "## Training\n\n"
        f"- steps: {result['steps']}, batch size {cfg.train.batch_size} per rank, "
        f"{result['world_size']} rank(s) (files written by rank 0 only), "
        f"lr {cfg.train.lr:g}, weight decay "
        f"{cfg.train.weight_decay:g}, seed {cfg.train.seed}\n"
        f"{resumed}"
        f"- loss: first step {first}, final step {final} (see loss.csv, loss.png)\n"
        f"- time: {result['seconds']:.1f} s on {result['device']}; machine: {machine}\n"
        f"- torch {torch.__version__}; model: `{parts.model.config['image']['backbone']}`, "
        f"{parts.model.config['embedding_dim']}-d embeddings, {n_params:,} parameters\n\n"
        "## Files\n\n"
        "`config.yaml` (recipe; `model:` rebuilds the GeoModel), `model.safetensors` (weights), "
        f"`{OBJECTIVES_FILE}` (objective state), `loss.csv`, `loss.png`.\n"
    )


def write_final(out_dir: Path, cfg: Config, parts: TrainParts, history: list[list[float]],
                result: dict[str, Any], machine: str, checkpoints: Path) -> dict[str, str]:
    """All end-of-run files, committed with the run's `checkpoints` folder (run_root) moved
    over the folder's checkpoints/ when it is a new run's; returns {what: path}."""
    out_dir = Path(out_dir)
    names = [n for n, _, _ in parts.objectives]
    recipe = {k: v for k, v in cfg.to_dict().items() if k != "model"}
    root, keep = Path(checkpoints), out_dir / CHECKPOINTS
    folders, stale = {}, [out_dir / NEXT]  # NEXT here: an abandoned run's, never resumable
    if root != keep:  # a new run's checkpoints replace the earlier run's (none: none stay)
        folders, stale = ({keep: root}, []) if root.is_dir() else ({}, [keep, root])
    if not cfg.train.write_digest:
        stale.append(out_dir / DIGESTS)  # an earlier run's weights, not these
    with staged_folder(out_dir, COMMIT_KEY, replaces=stale, folders=folders) as stage:
        save_model(parts.model, stage, extra_config=recipe)
        with atomic_path(stage / OBJECTIVES_FILE) as tmp:
            save_file(objective_tensors(parts), str(tmp))
        write_loss_csv(stage / RUN_FILES["loss_csv"], names, history)
        write_loss_png(stage / RUN_FILES["loss_png"], names, history)
        with atomic_path(stage / RUN_FILES["card"]) as tmp:
            tmp.write_text(card_text(cfg, parts, history, result, machine), encoding="utf-8")
    return {what: str(out_dir / name) for what, name in RUN_FILES.items()}

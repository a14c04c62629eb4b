"""train(config, progress) -> outputs: the pretraining loop, resumable bit for bit on CPU.

One step = one batch through every objective (summed with their weights) and one AdamW
update. The model and the objectives sit in one `LossModule`, so under torchrun DDP sees
the whole loss in its forward and syncs every gradient. Checkpoints (checkpoint.py /
state.py) hold weights, objective state, optimizer, RNGs and the data position.
"""

from __future__ import annotations

import logging
import platform
import random
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from engine import distributed
from engine.errors import EngineError
from engine.progress import Progress, no_progress
from engine.train import outputs
from engine.train.config import Config
from engine.train.parts import TrainParts
from engine.train.prefetch import MODES, Prefetcher, batch_source, prefetch_mode

log = logging.getLogger(__name__)


class LossModule(nn.Module):
    """GeoModel + objectives; forward(batch) -> (total loss, per-objective losses)."""

    def __init__(self, model: nn.Module, objectives: list[tuple[str, float, nn.Module]]) -> None:
        super().__init__()
        self.model = model
        self.names = [name for name, _, _ in objectives]
        self.weights = [float(w) for _, w, _ in objectives]
        self.objectives = nn.ModuleDict({name: obj for name, _, obj in objectives})
        self.momentum_model: nn.Module | None = None  # set by train(); not a submodule

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, each objective's unweighted loss, detached, in `names` order): nothing
        is read back to the host here (LossReadout does that every few steps)."""
        from engine.objectives import StepContext, loss_terms

        ctx = StepContext(self.model, batch, momentum_model=self.momentum_model)
        total, terms = loss_terms(self.objective_list(), ctx)
        return total, torch.stack(terms)

    def objective_list(self) -> list[tuple[str, float, nn.Module]]:
        return [(n, w, self.objectives[n]) for n, w in zip(self.names, self.weights, strict=True)]


class LossReadout:
    """The steps' losses, kept where they were computed and read back to the host a few
    steps at a time (at each log line and before each checkpoint), in one transfer. On a GPU
    a read-back waits for every queued kernel: reading each step's losses at once (as
    training did, two reads per objective) kept the host from queueing the next step, and
    from drawing its batch, while the GPU ran this one. On a CPU nothing waits; the values
    are the same floats either way."""

    def __init__(self, names: list[str]) -> None:
        self.names, self._steps, self._rows = list(names), [], []

    def add(self, step: int, total: torch.Tensor, losses: torch.Tensor) -> None:
        """Keep step `step`'s total and per-objective losses (not read yet)."""
        self._steps.append(step)
        self._rows.append(torch.cat([total.detach().reshape(1), losses.reshape(-1)]))

    def into(self, history: list[list[float]]) -> None:
        """Append the kept steps' [step, total, *losses] rows to `history`; a non-finite
        loss raises, naming the first step and objective that gave one."""
        if not self._rows:
            return
        rows = torch.stack(self._rows).tolist()
        steps, self._steps, self._rows = self._steps, [], []
        for step, row in zip(steps, rows, strict=True):
            if not all(map(np.isfinite, row)):
                from engine.objectives import non_finite_loss

                bad = next((i for i, v in enumerate(row[1:]) if not np.isfinite(v)), None)
                if bad is None:  # every objective finite, their weighted sum not
                    raise non_finite_loss("the weighted sum of the objectives", row[0], step)
                raise non_finite_loss(f"objective '{self.names[bad]}'", row[bad + 1], step)
            history.append([step, *row])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def required_keys(objectives: list[tuple[str, float, nn.Module]], model: nn.Module) -> set[str]:
    """The union of the objectives' `requires`, plus the capture time for objectives that
    condition on it (use_time) when the model has a time encoder."""
    keys = {key for _, _, obj in objectives for key in getattr(obj, "requires", ())}
    if getattr(model, "time_encoder", None) is not None and any(
            getattr(obj, "use_time", False) for _, _, obj in objectives):
        keys |= {"time", "time_valid"}
    return keys


def _objective_spec(cfg: Config) -> dict[str, dict[str, Any]]:
    """The objectives section, with geo_pretext's class count tied to data.clusters."""
    spec = {name: dict(params) for name, params in cfg.objectives.items()}
    if "geo_pretext" in spec:
        given = spec["geo_pretext"].setdefault("num_classes", cfg.data.clusters)
        if given != cfg.data.clusters:
            raise EngineError(
                f"objectives.geo_pretext.num_classes={given} differs from data.clusters="
                f"{cfg.data.clusters}", "leave num_classes out: it follows data.clusters")
    return spec


def _momentum(objectives: list[tuple[str, float, nn.Module]], model: nn.Module
              ) -> nn.Module | None:
    """A momentum copy of the model when an objective runs in MoCo mode."""
    if not any(getattr(obj, "needs_momentum_model", False) for _, _, obj in objectives):
        return None
    from engine.objectives import make_momentum_model

    return make_momentum_model(model)


def _momentum_step(parts: TrainParts) -> None:
    """One EMA step of the momentum encoder, at the first MoCo objective's rate (once)."""
    if parts.momentum is None:
        return
    for _, _, obj in parts.objectives:
        if getattr(obj, "needs_momentum_model", False):
            obj.update_momentum(parts.model, parts.momentum)
            return


def model_batch(batch: dict[str, torch.Tensor], cfg: Config, device: torch.device
                ) -> dict[str, torch.Tensor]:
    """Collated items -> the batch the objectives see (augmented on `device`)."""
    from engine.train.dataset import prepare_batch

    return prepare_batch(batch, device, cfg.data.image_size)


def build(cfg: Config, info: distributed.DistInfo, progress: Progress) -> TrainParts:
    """Seeded model, objectives, dataset, sampler and optimizer (identical on every rank)."""
    from engine.nn.model import GeoModel
    from engine.objectives import build_objectives
    from engine.train.data import build_dataset
    from engine.train.regimes import apply_regime, precompute
    from engine.train.sampler import EpochBatchSampler

    seed_everything(cfg.train.seed)
    if cfg.overhead_only:  # bands decide the first convolution's width
        from engine.train.raster_data import raster_record

        cfg.input = cfg.input or raster_record(cfg)
        cfg.model["image"]["backbone_kw"]["in_chans"] = len(cfg.input["bands"])
    model = GeoModel.from_config(cfg.model)
    objectives = build_objectives(_objective_spec(cfg), model)
    keys = required_keys(objectives, model)
    if cfg.overhead_only:
        from engine.train.raster_data import build_raster_dataset

        if cfg.train.regime == "frozen":
            raise EngineError("train.regime=frozen caches street-photo features; this recipe "
                              "is overhead-only", "set train.regime=partial or full")
        dataset, data_info = build_raster_dataset(cfg, keys)
    else:
        dataset, data_info = build_dataset(cfg, keys, progress)
    data_info.update(apply_regime(model, cfg.train.regime, cfg.train.trainable_blocks),
                     regime=cfg.train.regime)
    if cfg.train.regime == "frozen":  # the backbone computes the cache on the training device
        data_info.update(precompute(cfg, model.to(info.device), dataset, info.device, progress))
    loss_module = LossModule(model, objectives).to(info.device)
    momentum = _momentum(objectives, model)
    if momentum is not None:
        momentum = momentum.to(info.device)
    loss_module.momentum_model = momentum
    optimizer = torch.optim.AdamW(
        [p for p in loss_module.parameters() if p.requires_grad],
        lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    sampler = EpochBatchSampler(len(dataset), cfg.train.batch_size, cfg.train.seed,
                                rank=info.rank, world=info.world)
    return TrainParts(model=model, objectives=objectives, loss_module=loss_module,
                      momentum=momentum, optimizer=optimizer, dataset=dataset, sampler=sampler,
                      data_info=data_info, keys=sorted(keys))


def data_loader(dataset: Any, sampler: Any, cfg: Config, info: distributed.DistInfo) -> Any:
    """The DataLoader over `dataset` driven by the epoch batch sampler; a dataset that draws
    whole batches (GeoPairDataset) is drawn without one (InlineBatches) on a CPU without
    workers, and wherever its feature tables are on the GPU (a batch is a gather there:
    nothing for a worker process to do, and it could not reach the GPU's memory)."""
    from torch.utils.data import DataLoader

    from engine.train.batch_draw import InlineBatches, collate
    from engine.train.dataset import GeoPairDataset

    workers = cfg.train.workers
    if isinstance(dataset, GeoPairDataset):
        if features_on_device(dataset):
            if workers:
                log.info("train.workers=%d unused: the cached features are on %s", workers,
                         dataset.features_device())
            return InlineBatches(dataset, sampler)
        if workers == 0 and info.device.type == "cpu":
            return InlineBatches(dataset, sampler)
    return DataLoader(
        dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate,
        pin_memory=info.device.type == "cuda", persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        # a private generator: creating an iterator must not consume the global RNG
        generator=torch.Generator().manual_seed(cfg.train.seed))


def features_on_device(dataset: Any) -> bool:
    """Whether `dataset` serves cached features from tables on a GPU (regimes.feature_home)."""
    home = getattr(dataset, "features_device", lambda: None)()
    return home is not None and home.type != "cpu"


def batch_stream(loader: Any, sampler: Any, pos: dict[str, int], cfg: Config,
                 device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    """Model batches from data position `pos` on, epoch after epoch (endless)."""
    epoch, start = pos["epoch"], pos["batch"]
    while True:
        sampler.set_epoch(epoch, start)
        for batch in loader:
            yield model_batch(batch, cfg, device)
        epoch, start = epoch + 1, 0


def train(cfg: Config, progress: Progress = no_progress, resume: bool = False,
          allow_changed_config: bool = False) -> dict[str, Any]:
    """Train `cfg`; return the output paths and final figures. Only rank 0 writes files.

    `resume` refuses a recipe whose hyperparameters changed unless `allow_changed_config`.
    """
    from engine.export.atomic import made_folder
    from engine.train import run_folder

    run_folder.check_output(cfg.output_dir(), resume)  # every rank, before the process group starts
    info = distributed.setup(cfg.train.device)
    try:
        if info.is_main:
            run_folder.recover(cfg.output_dir())
        distributed.barrier(info)  # no rank looks for checkpoints while rank 0 recovers them
        with made_folder(cfg.output_dir()):  # a run that fails at once leaves no empty folder
            return _train(cfg, info, progress, resume, allow_changed_config)
    finally:
        distributed.teardown(info)


def _train(cfg: Config, info: distributed.DistInfo, progress: Progress,
           resume: bool, allow_changed_config: bool = False) -> dict[str, Any]:
    from engine.train import checkpoint_io
    from engine.train.regimes import train_mode

    out_dir = cfg.output_dir()
    t_start = time.perf_counter()
    parts = build(cfg, info, progress)
    loss_module, optimizer, sampler = parts.loss_module, parts.optimizer, parts.sampler
    pos = {"step": 0, "epoch": 0, "batch": 0}
    history: list[list[float]] = []
    root = checkpoint_io.run_root(out_dir, resume)  # a new run's stay apart until it commits
    first_save = not resume
    if resume:
        pos, history = checkpoint_io.restore(out_dir, parts, cfg, allow_changed_config)
        if pos["step"] > cfg.train.steps:  # the model would be saved as trained for fewer
            raise EngineError(f"{out_dir} has trained {pos['step']} steps already, more than "
                              f"train.steps={cfg.train.steps}",
                              f"resume with train.steps above {pos['step']} to train on, or "
                              "give another output= for a new run")
        log.info("resumed %s at step %d", out_dir, pos["step"])
    engine_module = distributed.wrap(loss_module, info)
    loader = data_loader(parts.dataset, sampler, cfg, info)
    stream = batch_stream(loader, sampler, dict(pos), cfg, info.device)
    # a thread loads the next batches while this step computes, or they are drawn in bursts
    mode = prefetch_mode(cfg, info.device.type, parts.keys, features_on_device(parts.dataset))
    log.info("batches: %s", MODES[mode])
    stream = batch_source(stream, mode)
    steps, every = cfg.train.steps, cfg.train.checkpoint_every
    train_mode(loss_module, parts.model, cfg.train.regime)
    batches = iter(stream)
    readout = LossReadout(loss_module.names)
    try:
        while pos["step"] < steps:
            total, losses = engine_module(next(batches))
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            _momentum_step(parts)
            pos["step"] += 1
            pos["batch"] += 1
            if pos["batch"] >= sampler.batches_per_epoch():
                pos["epoch"], pos["batch"] = pos["epoch"] + 1, 0
            readout.add(pos["step"], total, losses)
            progress(pos["step"], steps, "train")
            saving = pos["step"] == steps or (every and pos["step"] % every == 0)
            if pos["step"] % cfg.train.log_every == 0 or saving:
                readout.into(history)  # raises on a non-finite loss, before any save
                if pos["step"] % cfg.train.log_every == 0 or pos["step"] == steps:
                    log.info("step %d/%d loss %.4f", pos["step"], steps, history[-1][1])
            if saving:
                if info.is_main:
                    checkpoint_io.save(root, cfg, parts, pos, history, first=first_save)
                first_save = False
                distributed.barrier(info)
    finally:
        if isinstance(stream, Prefetcher):
            stream.close()
    distributed.sync_buffers([loss_module, parts.momentum], info)
    if hasattr(parts.dataset, "close"):
        parts.dataset.close()
    elif parts.dataset.sources.overhead is not None:
        parts.dataset.sources.overhead.close()
    seconds = time.perf_counter() - t_start
    result = {"steps": steps, "final_loss": history[-1][1] if history else None,
              "seconds": round(seconds, 2), "world_size": info.world,
              "device": str(info.device), "output": str(out_dir)}
    if parts.resume_changes:
        result["resumed_with_changes"] = parts.resume_changes
    if cfg.train.write_digest:
        outputs.write_digest(out_dir, parts.model, info.rank)
    if info.is_main:
        result["outputs"] = outputs.write_final(out_dir, cfg, parts, history, result,
                                                machine=platform.platform(), checkpoints=root)
    distributed.barrier(info)
    return result


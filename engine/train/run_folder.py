"""The training output folder before a run: whose it is, checked before any work.

A run writes RUN_FILES (+ checkpoints/) into its output folder and replaces an earlier
GeoContrast run's there when it commits (checkpoint_io, outputs.write_final). A folder whose
config.yaml is not one that training wrote (a user's own file, a model that was not
trained here) is refused up front, as are RUN_FILES beside no config.yaml: training would
overwrite them (unless a killed run's commit of them is pending). Every rank makes the same
read-only check, so under torchrun all of them fail alike before the process group starts;
rank 0 alone then finishes a commit that a killed run left half done (`recover`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from engine.errors import EngineError
from engine.export.atomic import clean_stale, pending_commit
from engine.models import yaml_text
from engine.models.weights import CONFIG_FILE, MODEL_FILE
from engine.train.checkpoint_io import OBJECTIVES_FILE

log = logging.getLogger(__name__)

# what a finished run leaves ({what: file name}, config.yaml first), committed together
RUN_FILES = {"config": CONFIG_FILE, "model": MODEL_FILE, "objectives": OBJECTIVES_FILE,
             "loss_csv": "loss.csv", "loss_png": "loss.png", "card": "card.md"}
COMMIT_KEY = MODEL_FILE  # names the commit's staging folder and journal (engine.export.atomic)
# the sections of a config.yaml that training writes (Config.to_dict() with `model:`)
RUN_SECTIONS = ("model", "objectives", "train")


def _run_config(doc: Any) -> bool:
    """Whether a parsed config.yaml is one a training run wrote."""
    return isinstance(doc, dict) and all(isinstance(doc.get(k), dict) for k in RUN_SECTIONS)


def _refuse(path: Path, why: str) -> EngineError:
    return EngineError(f"{path} {why}: training would overwrite it",
                       f"choose another output= folder for the run (e.g. output="
                       f"{path.parent / 'run'}), or move the file away")


def check_output(out_dir: Path, resume: bool = False) -> None:
    """EngineError, before any work, when training would overwrite a file in `out_dir` that
    no GeoContrast training run wrote; a new run over an earlier one says so in the log."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise EngineError(f"the output {out_dir} is a file, not a folder",
                          "give output= a folder (it is made when missing)")
    config = out_dir / CONFIG_FILE
    if config.is_dir():
        raise _refuse(config, "is a folder")
    if config.exists():
        try:
            doc = yaml_text.load(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _refuse(config, f"cannot be read as YAML ({first})") from None
        if not _run_config(doc):
            raise _refuse(config, "is not one written by GeoContrast training (it lacks the "
                          f"{'/'.join(RUN_SECTIONS)} sections a run writes)")
        if not resume:
            log.info("a new run into %s: the earlier run there (its model and checkpoints) is "
                     "replaced when this one finishes; --resume continues it instead", out_dir)
        return
    if pending_commit(out_dir / COMMIT_KEY):
        return  # the files are a killed run's commit, which rank 0 finishes (recover)
    for name in RUN_FILES.values():  # config.yaml is not there
        if (out_dir / name).exists():
            raise _refuse(out_dir / name, f"exists beside no {CONFIG_FILE} of a GeoContrast run")


def recover(out_dir: Path) -> None:
    """Finish the final commit that a killed run left half done, and remove its scratch
    (rank 0 only, before the run looks for its checkpoints)."""
    if Path(out_dir).is_dir():
        clean_stale(Path(out_dir) / COMMIT_KEY)

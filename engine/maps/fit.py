"""Spatial block CV of a head on labelled rows, then the head fitted on all rows, saved.

Writes `<out>.safetensors` + `<out>.json` (the head, engine.heads.io) and `<out>.cv.json`
(the cross-validation report: per-fold metrics, mean with a 95% CI across folds).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.export.atomic import atomic_path
from engine.export.jsontext import dumps
from engine.maps.rows import LabelledRows
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


def cv_plan(rows: LabelledRows, block_size_m: float | None, n_folds: int
            ) -> tuple[float, int, dict]:
    """Block size (given, or derived from the label geometry) and the folds it allows, with
    what was decided in words (engine.heads.spatial_cv.derive_block_size / check_folds)."""
    from engine.heads.spatial_cv import check_folds, derive_block_size

    if block_size_m is None:
        block_size_m, why = derive_block_size(rows.xy, n_folds, rows.diameters)
        log.info("CV block %.0f m: %s", block_size_m, why)
    else:
        if not block_size_m > 0:
            raise EngineError(f"--block-size {block_size_m:g} must be a positive number of "
                              "metres", "leave --block-size out to derive it from the labels")
        why = "given (--block-size)"
    folds, note = check_folds(rows.xy, block_size_m, n_folds, rows.groups)
    plan = {"block_size_m": round(float(block_size_m), 1), "block_size_source": why,
            "folds_asked": int(n_folds), "folds_used": folds}
    if note:
        plan["folds_note"] = note
    return float(block_size_m), folds, plan


def fit_rows(rows: LabelledRows, out: str | os.PathLike[str], head: str = "ridge",
             target: str = "target", block_size_m: float | None = None, n_folds: int = 5,
             seed: int = 0, progress: Progress = no_progress,
             oof_field: str | os.PathLike[str] | None = None,
             features: tuple[str | os.PathLike[str] | None, ...] = ()) -> dict:
    """Cross-validate `head` on `rows` by spatial blocks, fit it on all rows, save both.

    `block_size_m` None: derived from the label geometry; fewer folds when the blocks are
    fewer (said in the report). Fused rows (`rows.ground_dim`) with a ridge head get the
    stacked fusion head (engine.heads.fused_head). `oof_field`: the field the rows' X were
    sampled from; the head keeps its out-of-fold predictions at the places, which the maps'
    validity check scores for maps on that field's grid (read there, such a map would be
    in-sample). `features`: the files the rows' X came from (embeddings or field, and a fused
    head's second view), whose model the head records (engine.maps.provenance). Returns
    {"head", "head_json", "cv_report", "summary", "metrics", "n_rows",
    "cv_plan", "aggregation"}.
    """
    from engine.heads.cv import cross_validate
    from engine.heads.fit import fit_head
    from engine.heads.fused_head import stacked_cv, stacked_head
    from engine.heads.io import save_head
    from engine.heads.metrics import no_skill
    from engine.heads.pipeline import HeadConfig
    from engine.maps.provenance import record
    from engine.maps.validity import attach_places, grid_signature

    config = HeadConfig(head=head, seed=seed)
    if head == "ridge" and np.asarray(rows.y).dtype.kind in "OUS":
        text = [v for v in rows.y if not _is_number(v)]
        if text:
            raise EngineError(f"field {target!r} of {rows.source} is text (e.g. {text[0]!r}); "
                              "a ridge head regresses numbers",
                              "choose a numeric --target, or --head logistic for classes")
        rows.y = np.asarray(rows.y, dtype=np.float64)
    _check_target(rows, head, target)
    block_size_m, n_folds, plan = cv_plan(rows, block_size_m, n_folds)
    n_blocks_hint = f"fewer folds than {n_folds} or a block smaller than {block_size_m:g} m"
    stacked = rows.ground_dim is not None and head == "ridge"  # near/remote fusion
    try:
        if stacked:
            report = stacked_cv(rows.X, rows.y, rows.xy, rows.ground_dim, block_size_m,
                                n_folds, seed, rows.groups, progress)
        else:
            report = cross_validate(rows.X, rows.y, rows.xy, head=head,
                                    block_size_m=block_size_m, n_folds=n_folds, seed=seed,
                                    groups=rows.groups, config=config, progress=progress)
    except EngineError as exc:
        if "block" in exc.message:
            raise EngineError(exc.message, f"{exc.hint}; e.g. {n_blocks_hint}") from None
        raise
    if stacked:
        fitted = stacked_head(rows.X, rows.y, rows.ground_dim, report.folds, target,
                              report, seed)
        fitted.meta["fusion"]["second_view"] = rows.second_view
    else:
        fitted = fit_head(rows.X, rows.y, config=config, target_name=target, cv=report)
    # for the validity check of the maps made with this head
    attach_places(fitted, rows, None if oof_field is None else report.oof_pred,
                  None if oof_field is None else grid_signature(oof_field))
    record(fitted, *features)
    base = Path(out)
    base = base.with_suffix("") if base.suffix in (".json", ".safetensors") else base
    st, js = save_head(fitted, base)
    skill = no_skill(report.mean, rows.y)
    doc = {"target": target, "source": rows.source, "n_rows": int(len(rows.y)),
           "n_dropped": rows.n_dropped, "xy_crs": str(rows.xy_crs), "cv_plan": plan,
           "aggregation": rows.notes, "no_skill": skill,
           "summary": report.summary(), **report.to_dict()}
    cv_path = base.with_name(base.name + ".cv.json")
    with atomic_path(cv_path) as tmp:
        tmp.write_text(dumps(doc, default=_default), encoding="utf-8")  # NaN folds: null
    log.info("%s head for %s (%d rows): %s", head, target, len(rows.y), report.summary())
    if skill:
        log.warning("the %s head for %s has no skill: %s; maps made with it are not to be "
                    "trusted", head, target, skill)
    return {**({"no_skill": skill} if skill else {}), "head": str(st), "head_json": str(js),
            "cv_report": str(cv_path),
            "summary": report.summary(), "metrics": report.mean,
            "ci95": {k: list(v) for k, v in report.ci95.items()}, "n_rows": int(len(rows.y)),
            "task": report.task, "cv_plan": plan, "aggregation": rows.notes,
            "far_out_folds": report.extra.get("far_out_folds", [])}


MAX_CLASSES = 50  # more distinct values than this, and a float target, is not classes


def _check_target(rows: LabelledRows, head: str, target: str) -> None:
    """A target a head can learn: not one value everywhere (every score would be NaN and the
    maps flat); for a classifier, classes rather than a continuous quantity."""
    y = np.asarray(rows.y)
    values = np.unique(y.astype(str) if y.dtype.kind in "OUS" else y)
    if len(values) < 2:
        raise EngineError(f"{target!r} of {rows.source} is {values[0] if len(values) else '-'} "
                          f"at all {len(y)} labelled rows: nothing to learn",
                          "choose a field whose values differ between places")
    if head == "logistic" and y.dtype.kind == "f" and len(values) > MAX_CLASSES:
        raise EngineError(f"{target!r} of {rows.source} is continuous ({len(values)} distinct "
                          "values): a logistic head predicts classes",
                          "use --head ridge for a quantity, or a field of class names")


def _is_number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _default(o: object) -> object:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)

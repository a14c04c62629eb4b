"""Few-shot class maps: labelled points (and/or the field cells of labelled polygons) -> field
sampled there -> logistic / k-NN head -> class raster (band 1: class index into the classes
listed in the GPKG metadata and band description) + per-pixel confidence (band 2: the winning
class probability). CV blocks are derived from the examples' geometry unless given."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.defaults import CLASSIFIER, CLASSIFIERS
from engine.errors import EngineError
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

MIN_GROUPS_FOR_CV = 20  # fewer labelled points/polygons: the CV score carries a caveat


def _class_key(label: str) -> tuple[int, float, str]:
    """Numbers by value, before other names in text order."""
    try:
        return 0, float(label), ""
    except ValueError:
        return 1, 0.0, label


def labelled_points(path: str | os.PathLike[str], class_field: str,
                    layer: str | None = None):
    """(x, y (N, 2) in the layer CRS, labels (N,) object, CRS) of a point layer's class field."""
    from engine.maps.rows import read_polygons

    gdf = read_polygons(path, layer)  # any OGR layer; geometry checked below
    if not set(gdf.geom_type.dropna().unique()) <= {"Point"}:
        raise EngineError(f"{path} is not a point layer", "pass labelled points")
    if class_field not in gdf.columns:
        raise EngineError(f"{path} has no field {class_field!r}",
                          f"choose one of: {', '.join(map(str, gdf.columns))}")
    col = gdf[class_field]
    keep = col.notna().to_numpy()
    xy = np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])[keep]
    labels = np.asarray([str(v) for v in col[keep]], dtype=object)
    return xy, labels, gdf.crs


def _examples(field_path: str | os.PathLike[str], points: str | os.PathLike[str] | None,
              polygons: str | os.PathLike[str] | None, class_field: str, seed: int,
              layer: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, object]:
    """(X, labels, xy, groups, crs) of the labelled points and polygon cells on the field."""
    from engine.data.crs import transform_xy
    from engine.export.fieldio import require_field
    from engine.maps.field import field_info, sample_field
    from engine.maps.labels import polygon_cells

    if points is None and polygons is None:
        raise EngineError("a few-shot map needs labelled examples",
                          "pass --points (labelled points) and/or --polygons")
    require_field(field_path)
    crs = field_info(field_path)["crs"]
    xy, labels, groups = [np.zeros((0, 2))], [np.zeros(0, dtype=object)], [np.zeros(0, int)]
    if points is not None:
        pxy, plab, pcrs = labelled_points(points, class_field, layer)
        xy.append(transform_xy(pxy, pcrs, crs) if pcrs is not None else pxy)
        labels.append(plab)
        groups.append(-1 - np.arange(len(pxy)))  # each point its own group
    if polygons is not None:
        cxy, clab, owner, _ = polygon_cells(field_path, polygons, class_field, seed)
        xy.append(cxy)
        labels.append(clab)
        groups.append(owner)
    xy_all, lab, grp = np.concatenate(xy), np.concatenate(labels), np.concatenate(groups)
    X, valid = sample_field(field_path, xy_all, crs)
    if (~valid).any():
        log.warning("%d labelled example(s) fall outside the field or on nodata and are "
                    "ignored", int((~valid).sum()))
    return X[valid], lab[valid], xy_all[valid], grp[valid], crs


def fewshot_map(field_path: str | os.PathLike[str], points: str | os.PathLike[str] | None,
                class_field: str, out_dir: str | os.PathLike[str], head: str = CLASSIFIER,
                name: str = "fewshot", block_size_m: float | None = None, n_folds: int = 3,
                seed: int = 0, layer: str | None = None,
                progress: Progress = no_progress,
                polygons: str | os.PathLike[str] | None = None) -> dict:
    """Fit a classifier on field vectors at labelled points and polygon cells, and map classes
    everywhere. CV blocks are derived from the examples unless `block_size_m` is given."""
    from engine.heads.fit import fit_head
    from engine.heads.metrics import no_skill
    from engine.heads.pipeline import HeadConfig
    from engine.maps.field import map_field
    from engine.maps.outputs import map_outputs
    from engine.maps.rows import metric_xy

    if head not in CLASSIFIERS:
        raise EngineError(f"head {head!r} cannot classify",
                          f"use --classifier {' or '.join(CLASSIFIERS)}")
    X, labels, xy, groups, crs = _examples(field_path, points, polygons, class_field, seed,
                                           layer)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise EngineError(f"the labelled points inside the field hold {len(classes)} class(es)",
                          "label at least two classes")
    config = HeadConfig(head=head, task="classification", seed=seed, k=min(5, len(X)))
    cv, plan = None, {}
    try:
        import geopandas as gpd

        from engine.heads.cv import cross_validate
        from engine.maps.fit import cv_plan
        from engine.maps.rows import LabelledRows

        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)
        mxy, mcrs = metric_xy(pts)
        rows = LabelledRows(X, labels, mxy, mcrs, groups, str(field_path))
        block, folds, plan = cv_plan(rows, block_size_m, n_folds)
        cv = cross_validate(X, labels, mxy, block_size_m=block, n_folds=folds,
                            seed=seed, config=config, groups=groups)
    except EngineError as exc:
        plan["skipped"] = f"{exc.message} ({exc.hint})"
        log.warning("few-shot cross-validation skipped: %s", exc.message)
    n_groups = len(np.unique(groups))
    if n_groups < MIN_GROUPS_FOR_CV:
        plan["caveat"] = (f"only {n_groups} labelled points/polygons: the CV score is a "
                          "rough indication, not an accuracy estimate")
    fitted = fit_head(X, labels, config=config, target_name=class_field, cv=cv)
    skill = None if cv is None else no_skill(cv.mean, labels)
    if skill:
        log.warning("the few-shot classifier of %s has no skill: %s; the class map is not "
                    "to be trusted", class_field, skill)
    # class_index in natural order: class 2 before class 10 (the labels are text)
    order = {c: i for i, c in enumerate(sorted(np.asarray(fitted.classes).tolist(),
                                               key=_class_key))}

    def fn(Z: np.ndarray) -> np.ndarray:
        pred, unc = fitted.predict_with_uncertainty(Z)
        return np.stack([[order[p] for p in pred], 1.0 - unc], axis=1)

    out_dir = Path(out_dir)
    tif = out_dir / f"{name}.tif"
    map_field(field_path, fn, tif, ["class_index", "confidence"], progress, "few-shot",
              qml_ramp=None)
    meta = {"kind": "fewshot", "classes": list(order), "head": head, "no_skill": skill,
            "cv": None if cv is None else cv.to_dict(), "cv_plan": plan}
    outputs = map_outputs(tif, out_dir, name, f"few-shot {class_field}", metadata=meta,
                          classes=[str(c) for c in order], progress=progress)
    return {"kind": "fewshot", **({"no_skill": skill} if skill else {}), **outputs,
            "classes": list(order), "n_labelled": int(len(X)),
            "cv": None if cv is None else cv.summary(), "cv_plan": plan,
            "metrics": None if cv is None else cv.mean}

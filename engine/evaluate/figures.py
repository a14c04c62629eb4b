"""The report's PNG figures, each written atomically: Recall@K curves, a place-recognition
example grid (query + each encoder's top-K, green = a true match) and zero-shot maps next to
the truth rasters.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.evaluate.claims import aggregate
from engine.export.atomic import atomic_path

log = logging.getLogger(__name__)

KS = (1, 5, 10)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def encoder_order(rows: list[dict]) -> list[str]:
    """Encoders in the order they were first evaluated."""
    seen: list[str] = []
    for r in rows:
        if r["encoder"] not in seen:
            seen.append(r["encoder"])
    return seen


RECALL_TASKS = ("vpr", "cross_view")  # the tasks whose Recall@K curves recall_figure draws


def recall_figure(rows: list[dict], path: Path) -> Path:
    """Recall@K curves (VPR and ground->overhead retrieval) per encoder, as a PNG."""
    plt = _pyplot()
    agg = aggregate(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, task, prefix, title in zip(axes, RECALL_TASKS, ("", "g2o_"),
                                       ("Place recognition", "Ground -> overhead"),
                                       strict=True):
        for e in encoder_order(rows):
            m = agg.get((task, e, "place"))
            if m:
                ax.plot(KS, [m[f"{prefix}R@{k}"][0] for k in KS], marker="o", label=e)
        n = next((r["n"] for r in rows if r["task"] == task and "n" in r), None)
        if n:  # every query ranks the same one of n targets: chance
            ax.plot(KS, [k / n for k in KS], "k--", lw=0.8, label=f"chance (1 of {n})")
        ax.set(xlabel="K", ylabel="Recall@K", title=title, xticks=KS, ylim=(0, 1))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def retrieval_figure(examples: dict, path: Path) -> Path:
    """Rows: one query per encoder; columns: the query photo, then its top-K database photos
    framed green (a true match) or red."""
    from engine.data.images import load_image

    plt = _pyplot()
    encoders = list(examples["encoders"])
    queries, k = examples["queries"], int(examples["k"])
    n_rows = len(queries) * len(encoders)
    fig, axes = plt.subplots(n_rows, k + 1, figsize=(1.6 * (k + 1), 1.7 * n_rows),
                             squeeze=False)
    for qi, query in enumerate(queries):
        for ei, enc in enumerate(encoders):
            r = qi * len(encoders) + ei
            axes[r, 0].imshow(load_image(query, None))
            axes[r, 0].set_title(f"query {qi + 1}", fontsize=7)
            axes[r, 0].set_ylabel(enc, fontsize=7)
            for j, res in enumerate(examples["encoders"][enc][qi][:k]):
                ax = axes[r, j + 1]
                ax.imshow(load_image(res["path"], None))
                for side in ax.spines.values():
                    side.set(color="#1a9641" if res["hit"] else "#d7191c", linewidth=3)
                ax.set_title(f"top {j + 1}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Place recognition: query (last capture) and top database photos "
                 "(green = same place, red = wrong)", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def map_figure(map_examples: dict, path: Path) -> Path:
    """Per target: the truth raster, then each encoder's zero-shot map (same colour range)."""
    import rasterio

    plt = _pyplot()
    targets, maps = map_examples["targets"], map_examples["maps"]
    truth_dir = Path(map_examples["truth_dir"])
    fig, axes = plt.subplots(len(targets), len(maps) + 1,
                             figsize=(3.0 * (len(maps) + 1), 2.8 * len(targets)), squeeze=False)
    for r, target in enumerate(targets):
        panels = [("truth", truth_dir / f"{target}.tif")] + \
            [(name, Path(d) / "maps" / f"{target}.tif") for name, d in maps.items()]
        arrays = []
        for _, tif in panels:
            with rasterio.open(tif) as src:
                a = src.read(1, masked=True).astype(np.float64).filled(np.nan)
                b = src.bounds
            arrays.append((a, (b.left, b.right, b.bottom, b.top)))
        lo, hi = np.nanpercentile(arrays[0][0], [2, 98])
        for c, ((name, _), (a, extent)) in enumerate(zip(panels, arrays, strict=True)):
            ax = axes[r, c]
            im = ax.imshow(a, extent=extent, vmin=lo, vmax=hi, cmap="viridis")
            ax.set_title(name, fontsize=8)
            if c == 0:
                ax.set_ylabel(target, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=axes[r, :].tolist(), shrink=0.8)
    fig.suptitle("Photo-free zero-shot maps vs truth (shared colour range per row)", fontsize=9)
    return _save(fig, path)

"""PNG quick-looks of maps (matplotlib Agg, no pyplot state): colour bar, title, a scale
bar in metres worked out from the CRS, an optional north arrow."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.export.atomic import atomic_path

log = logging.getLogger(__name__)


def metres_per_unit(crs, y_centre: float) -> float:
    """Ground metres per map unit along x at latitude/northing `y_centre`."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    if c.is_geographic:
        return 111_320.0 * math.cos(math.radians(y_centre))
    factor = c.axis_info[0].unit_conversion_factor if c.axis_info else 1.0
    return float(factor or 1.0)


def nice_length(max_m: float) -> float:
    """The largest 1/2/5 x 10^n metres not above `max_m`."""
    if max_m <= 0:
        return 0.0
    p = 10 ** math.floor(math.log10(max_m))
    return max(m * p for m in (1, 2, 5) if m * p <= max_m)


def _decorate(fig, ax, extent, crs, title: str, north_arrow: bool) -> None:
    from matplotlib.patches import Rectangle

    xmin, xmax, ymin, ymax = extent
    mpu = metres_per_unit(crs, (ymin + ymax) / 2)
    length_m = nice_length((xmax - xmin) * mpu / 4)
    if length_m > 0:
        length = length_m / mpu
        x0 = xmin + 0.05 * (xmax - xmin)
        y0 = ymin + 0.05 * (ymax - ymin)
        hgt = 0.015 * (ymax - ymin)
        ax.add_patch(Rectangle((x0, y0), length, hgt, facecolor="black", edgecolor="white",
                               linewidth=0.8, zorder=5))
        label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
        ax.text(x0 + length / 2, y0 + 2 * hgt, label, ha="center", va="bottom", fontsize=8,
                zorder=5, bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"})
    if north_arrow:
        ax.annotate("N", xy=(0.94, 0.95), xytext=(0.94, 0.83), xycoords="axes fraction",
                    ha="center", va="center", fontsize=10, fontweight="bold",
                    arrowprops={"arrowstyle": "-|>", "color": "black"}, zorder=6)
    ax.set_title(title)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False, style="plain")


def _save(fig, out_png: str | os.PathLike[str], dpi: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    out = Path(out_png)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return out


def matplotlib_colormap(name: str):
    """A matplotlib colormap by name."""
    import matplotlib

    return matplotlib.colormaps[name]


def quicklook_raster(path: str | os.PathLike[str], out_png: str | os.PathLike[str],
                     band: int = 1, title: str | None = None, cmap: str = "viridis",
                     label: str = "", max_size: int = 1024, north_arrow: bool = True,
                     dpi: int = 100, classes: list[str] | None = None) -> Path:
    """PNG of one band of a GeoTIFF (decimated read, nodata transparent). With `classes`
    the band holds class indexes 0..n-1: one tab10 colour each and a legend of the names."""
    from matplotlib.figure import Figure

    from engine.export.fieldio import open_field

    with open_field(path) as ds:
        if not 1 <= band <= ds.count:
            raise EngineError(f"{path} has {ds.count} band(s), not band {band}",
                              f"choose a band in 1..{ds.count}")
        f = max(1.0, max(ds.width, ds.height) / max_size)
        shape = (max(1, int(ds.height / f)), max(1, int(ds.width / f)))
        a = ds.read(band, out_shape=shape, masked=True).astype(np.float64)
        a = a * ds.scales[band - 1] + ds.offsets[band - 1]
        b = ds.bounds
        crs = ds.crs
        desc = ds.descriptions[band - 1]
    data = np.ma.masked_invalid(a)
    fig = Figure(figsize=(6, 6 * shape[0] / shape[1] + 0.6))
    ax = fig.add_subplot()
    if classes:
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch

        colors = [matplotlib_colormap("tab10")(i % 10) for i in range(len(classes))]
        ax.imshow(data, cmap=ListedColormap(colors), vmin=-0.5, vmax=len(classes) - 0.5,
                  extent=(b.left, b.right, b.bottom, b.top), interpolation="nearest")
        ax.legend(handles=[Patch(color=c, label=str(n)) for c, n in zip(colors, classes,
                                                                        strict=True)],
                  title=label or None, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  frameon=False)
    else:
        im = ax.imshow(data, cmap=cmap, extent=(b.left, b.right, b.bottom, b.top),
                       interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label or desc or f"band {band}")
    _decorate(fig, ax, (b.left, b.right, b.bottom, b.top), crs, title or Path(path).stem,
              north_arrow)
    out = _save(fig, out_png, dpi)
    log.info("quick-look %s -> %s", path, out)
    return out


def quicklook_vector(gdf, column: str, out_png: str | os.PathLike[str],
                     title: str | None = None, cmap: str = "viridis", label: str = "",
                     north_arrow: bool = True, marker_size: float = 12.0,
                     dpi: int = 100) -> Path:
    """PNG of points or polygons coloured by a numeric `column`."""
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if column not in gdf.columns:
        raise EngineError(f"the layer has no column {column!r}",
                          f"choose one of: {', '.join(map(str, gdf.columns))}")
    if gdf.crs is None:
        raise EngineError("the layer has no CRS", "set one before drawing a scale bar")
    values = np.asarray(gdf[column], dtype=np.float64)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        raise EngineError(f"column {column!r} has no finite values", "check the predictions")
    norm = Normalize(vmin=float(finite.min()), vmax=float(finite.max()))
    xmin, ymin, xmax, ymax = gdf.total_bounds
    aspect = min(2.0, max(0.3, (ymax - ymin) / (xmax - xmin) if xmax > xmin else 1.0))
    fig = Figure(figsize=(6, 6 * aspect + 0.6))
    ax = fig.add_subplot()
    gdf.plot(column=column, ax=ax, cmap=cmap, norm=norm, markersize=marker_size,
             edgecolor="0.3", linewidth=0.3, missing_kwds={"color": "lightgrey"})
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.046, pad=0.04,
                 label=label or column)
    pad_x, pad_y = 0.05 * (xmax - xmin or 1.0), 0.05 * (ymax - ymin or 1.0)
    _decorate(fig, ax, (xmin - pad_x, xmax + pad_x, ymin - pad_y, ymax + pad_y), gdf.crs,
              title or column, north_arrow)
    return _save(fig, out_png, dpi)

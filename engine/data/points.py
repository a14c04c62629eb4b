"""Read a street-view point layer (one photo per point) from any OGR vector, CSV or photo folder.

Schema after reading (StreetViewLayer.frame): `image` (absolute path str), `captured_at`
(datetime64[ns, UTC], NaT when unknown), `heading` (float64 degrees from north in [0, 360),
NaN when unknown), `location_id` (int64), `source_fid` (the row's feature id, or CSV line),
the layer's other fields as they were, and the point geometry in the layer's CRS.

Field names accepted (first match, case-insensitive): image <- image/photo/image_path/path/
filepath; captured_at <- captured_at/timestamp/datetime/taken_at/time; heading <-
heading/direction/bearing/azimuth; location_id <- location_id (Shapefile: location_i).
So QGIS's native:importphotos output (photo, direction, timestamp, ...) reads as it is.
A missing location_id is derived: photos whose points lie within ~2 m of each other
(directly or through a chain of such neighbours) share one (validate.derive_location_ids).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from engine.data import validate
from engine.data.coords import check_coordinates
from engine.data.crs import CRSLike, crs_name, metric_crs_for_lonlat, to_pyproj, transform_xy
from engine.errors import EngineError

log = logging.getLogger(__name__)

IMAGE_FIELDS = ("image", "photo", "image_path", "path", "filepath")
TIME_FIELDS = ("captured_at", "captured_a", "timestamp", "datetime", "taken_at", "time")
HEADING_FIELDS = ("heading", "direction", "bearing", "azimuth")
LOCATION_FIELDS = ("location_id", "location_i")  # Shapefiles cut names at 10 characters
PREFERRED_LAYER = "streetview"


@dataclass(eq=False)
class StreetViewLayer:
    """A validated street-view point layer: the frame plus where it came from."""

    frame: gpd.GeoDataFrame
    source: Path
    has_times: bool  # at least one photo has a capture time (the others are NaT)
    location_ids_derived: bool = False
    skipped: int = 0  # photos left out while reading (EXIF folders: photos without GPS)
    found: dict = field(default_factory=dict)  # provider fields mapped (engine.data.providers)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def crs(self) -> pyproj.CRS:
        """The CRS of the point geometries."""
        return self.frame.crs

    @functools.cached_property
    def xy_crs(self) -> pyproj.CRS:
        """The metric CRS of xy(): the layer's own if projected in metres, else local UTM."""
        return metric_crs_for_lonlat(self.lonlat(), self.crs)

    def lonlat(self) -> np.ndarray:
        """(N, 2) float64 lon, lat in degrees (EPSG:4326)."""
        return transform_xy(self._own_xy(), self.crs, "EPSG:4326")

    def xy(self) -> np.ndarray:
        """(N, 2) float64 x, y in metres in `xy_crs`."""
        return transform_xy(self._own_xy(), self.crs, self.xy_crs)

    def xy_in(self, crs: CRSLike) -> np.ndarray:
        """(N, 2) float64 x, y in any `crs` (e.g. an overhead raster's, to cut chips)."""
        return transform_xy(self._own_xy(), self.crs, crs)

    def _own_xy(self) -> np.ndarray:
        geoms = self.frame.geometry
        return np.column_stack([geoms.x.to_numpy("float64"), geoms.y.to_numpy("float64")])


def read_streetview(path: str | os.PathLike[str], layer: str | None = None, *,
                    lon_field: str | None = None, lat_field: str | None = None,
                    x_field: str | None = None, y_field: str | None = None,
                    crs: CRSLike | None = None, image_field: str | None = None,
                    check_images: bool = True, position: str = "computed",
                    image_template: str | None = None,
                    photo_dir: str | os.PathLike[str] | None = None) -> StreetViewLayer:
    """Read and validate a street-view layer: GeoPackage/GeoJSON/Shapefile/any OGR, CSV, or
    a folder of geotagged JPEGs (EXIF). `crs` is the CRS of CSV x/y columns, or of a vector
    file that declares none. With `check_images`, missing photo files raise EngineError.
    Provider exports (Mapillary, KartaView) are read as they are (engine.data.providers):
    `position` picks their computed or original positions, `image_template` names the photo
    files from an id field (e.g. "images/{id}.jpg"). Relative photo paths are relative to
    the layer's folder, or to `photo_dir` (a copy of a layer made elsewhere, e.g. QGIS's
    export of the selected features, keeps its paths relative to the original's folder).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise EngineError(f"street-view layer {path} does not exist",
                          "check the path; give a .gpkg/.geojson/.shp/.csv or a photo folder")
    if path.is_dir():
        from engine.data.exif import read_exif_folder

        return read_exif_folder(path)
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        from engine.data.csv_points import read_csv_points

        frame, labels, unit = read_csv_points(path, lon_field=lon_field, lat_field=lat_field,
                                              x_field=x_field, y_field=y_field, crs=crs)
        where = str(path)
    else:
        layer = _pick_layer(path, layer)
        frame = _read_vector(path, layer)
        labels, unit = [int(i) for i in frame.index], "feature id"
        where = f"{path} (layer {layer!r})"
        frame = _assign_crs(frame, crs, where)
    from engine.data.providers import apply_providers

    base = Path(photo_dir).expanduser() if photo_dir is not None else path.parent
    if not base.is_dir():
        raise EngineError(f"photo folder {base} does not exist",
                          "give the folder that the layer's relative photo paths start from")
    frame, found = apply_providers(frame, where, base, position=position,
                                   image_template=image_template, image_field=image_field)
    out = layer_from_frame(frame, source=path, labels=labels, unit=unit, where=where,
                           image_field=image_field, check_images=check_images, photo_dir=base)
    out.found = found.as_dict()
    return out


def layer_from_frame(frame: gpd.GeoDataFrame, *, source: Path, labels: list[object] | None = None,
                     unit: str = "feature id", where: str | None = None,
                     image_field: str | None = None, check_images: bool = True,
                     skipped: int = 0, photo_dir: Path | None = None) -> StreetViewLayer:
    """Validate a point GeoDataFrame and map its fields to the schema (see module doc);
    relative photo paths start from `photo_dir`, by default the source's folder."""
    where = where or str(source)
    if len(frame) == 0:
        raise EngineError(f"{where} has no features", "give a layer with at least one photo")
    if frame.crs is None:
        raise EngineError(f"{where} has no CRS",
                          "assign one in QGIS (Layer Properties > Source), or give it with "
                          "`python -m engine import-photos --crs EPSG:XXXX`")
    labels = list(labels) if labels is not None else list(range(len(frame)))
    frame = frame.reset_index(drop=True)
    frame = frame.set_geometry(validate.check_points(frame.geometry, labels, where, unit))
    check_coordinates(np.column_stack([frame.geometry.x, frame.geometry.y]), frame.crs, where,
                      labels, unit)

    img_col = _field(frame, image_field, IMAGE_FIELDS, where, required=True)
    base_dir = photo_dir if photo_dir is not None else (
        source.parent if source.is_file() else source)
    frame["image"] = validate.resolve_images(frame[img_col], base_dir, labels, where,
                                             img_col, unit)
    if check_images:
        validate.check_image_files(frame["image"].tolist(), where, img_col)

    time_col = _field(frame, None, TIME_FIELDS, where)
    frame["captured_at"] = (
        validate.parse_times(frame[time_col], labels, where, time_col, unit)
        if time_col else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]"))
    head_col = _field(frame, None, HEADING_FIELDS, where)
    frame["heading"] = (validate.parse_headings(frame[head_col], labels, where, head_col, unit)
                        if head_col else np.full(len(frame), np.nan))

    n_times = int(frame["captured_at"].notna().sum())
    if n_times == 0:
        log.info("%s: no capture times; the temporal objective will not be available", where)
    elif n_times < len(frame):
        log.warning("%s: %d of %d photos have no capture time (kept as NaT)", where,
                    len(frame) - n_times, len(frame))
    out = StreetViewLayer(frame=frame, source=source, has_times=n_times > 0, skipped=skipped)
    loc_col = _field(frame, None, LOCATION_FIELDS, where)
    if loc_col is not None:
        frame["location_id"] = validate.parse_location_ids(frame[loc_col], labels, where, loc_col,
                                                           unit)
    else:
        frame["location_id"] = validate.derive_location_ids(out.xy())
        out.location_ids_derived = True
        log.info("%s: location_id derived: %d locations (points within %.0f m grouped)", where,
                 int(frame["location_id"].nunique()), validate.LOCATION_RADIUS_M)
    frame["source_fid"] = pd.Series(labels).to_numpy()  # int64 for feature ids / CSV lines
    log.info("%s: %d photos in %s", where, len(frame), crs_name(frame.crs))
    return out


def _field(frame: gpd.GeoDataFrame, given: str | None, names: tuple[str, ...], where: str,
           required: bool = False) -> str | None:
    """The column to use for a schema field: `given` if set, else the first known name."""
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    if given is not None:
        if given not in frame.columns:
            raise EngineError(f"{where}: no field {given!r}; fields are {', '.join(columns)}",
                              "pass the exact field name (case matters)")
        return given
    lower = {c.lower(): c for c in columns}
    found = next((lower[n] for n in names if n in lower), None)
    if found is None and required:
        raise EngineError(f"{where}: no photo path field; fields are {', '.join(columns)}",
                          f"name the field one of {', '.join(names)}, or pick it with "
                          "`python -m engine import-photos --image-field NAME`")
    return found


def _pick_layer(path: Path, layer: str | None) -> str:
    """`layer` if given, else the only layer, a layer named 'streetview', or the only point one."""
    import pyogrio

    try:
        listing = [(str(row[0]), str(row[1])) for row in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise EngineError(f"{path} cannot be opened as a vector layer ({exc})",
                          "give a GeoPackage, GeoJSON, Shapefile or CSV") from None
    names = [name for name, _ in listing]
    points = [name for name, kind in listing if "point" in kind.lower()]
    if layer is not None:
        if layer not in names:
            raise EngineError(f"{path} has no layer {layer!r}; layers are {', '.join(names)}",
                              "pass one of those layer names")
        return layer
    if not names:
        raise EngineError(f"{path} has no layers", "give a file with a point layer of photos")
    if len(names) == 1:
        return names[0]
    if PREFERRED_LAYER in names:
        return PREFERRED_LAYER
    if len(points) == 1:
        return points[0]
    raise EngineError(f"{path} has several layers ({', '.join(names) or 'none'})",
                      "name the street-view point layer with --layer (import-photos) or "
                      "--layer-name (embed-points)")


def _read_vector(path: Path, layer: str) -> gpd.GeoDataFrame:
    import pyogrio

    try:
        return pyogrio.read_dataframe(path, layer=layer, fid_as_index=True,
                                      datetime_as_string=True)
    except Exception as exc:  # GDAL errors surface as several pyogrio exception types
        raise EngineError(f"{path} (layer {layer!r}) cannot be read ({exc})",
                          "open it in QGIS to check it; re-export it as GeoPackage") from None


def _assign_crs(frame: gpd.GeoDataFrame, crs: CRSLike | None, where: str) -> gpd.GeoDataFrame:
    if crs is None:
        return frame
    given = to_pyproj(crs, "crs")
    if frame.crs is not None and not frame.crs.equals(given, ignore_axis_order=True):
        log.warning("%s declares %s; using the given crs %s instead", where,
                    crs_name(frame.crs), crs_name(given))
    return frame.set_crs(given, allow_override=True)

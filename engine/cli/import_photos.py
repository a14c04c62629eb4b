"""`python -m engine import-photos`: any street-view input -> a validated, normalised GeoPackage.

Input: a point layer (GeoPackage/GeoJSON/Shapefile/any OGR, e.g. QGIS's native:importphotos
output), a CSV, or a folder of geotagged JPEGs (EXIF). Output layer "streetview" in the
input's CRS with `image` (absolute path), `captured_at` (ISO 8601 UTC text, empty when
unknown), `heading` (degrees from north, empty when unknown), `location_id`, and the
input's other fields (numeric ones may serve as labels later).

Provider exports (Mapillary GeoJSON/CSV: epoch-ms captured_at, compass_angle, sequence,
is_pano, computed vs original position; KartaView fields) are mapped onto those fields and
the result's `found` says which source field became which. Panoramas (2:1, or flagged) are
cut into perspective views: one row per view with `view_yaw`, `view_fov`, `pano_heading` and
its absolute `heading`, sharing the panorama's location_id (engine.data.views).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.args import add_photo_dir_argument
from engine.cli.view_args import add_view_arguments, view_options
from engine.data.imagery_options import POSITIONS
from engine.progress import Progress

NAME = "import-photos"
HELP = "validate a street-view point layer, CSV or geotagged-JPEG folder -> normalised GeoPackage"
LAYER_NAME = "streetview"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, required=True,
                        help="point layer file, CSV, or folder of geotagged JPEGs")
    parser.add_argument("--layer", default=None, help="layer name inside a multi-layer file")
    parser.add_argument("--image-field", default=None,
                        help="field with the photo paths (default: image/photo/path/...)")
    parser.add_argument("--lon-field", default=None, help="CSV: longitude column")
    parser.add_argument("--lat-field", default=None, help="CSV: latitude column")
    parser.add_argument("--crs", default=None,
                        help="CRS of a file that declares none (e.g. EPSG:4326)")
    parser.add_argument("--recursive", action="store_true",
                        help="photo folder: include sub-folders")
    add_photo_dir_argument(parser)
    add_view_arguments(parser)
    parser.add_argument("--position", choices=POSITIONS, default="computed",
                        help="provider exports: the computed (structure-from-motion / "
                             "map-matched) or the original GPS position (default: computed)")
    parser.add_argument("--image-template", default=None,
                        help="photo file from an id field when the layer has no path field, "
                             "relative to the layer (default: {id}.jpg)")
    parser.add_argument("--out", type=Path, required=True, help="output GeoPackage (.gpkg)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a 'streetview' layer of OUT.gpkg that another command "
                        "(or program) wrote; other layers are always kept")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.export.guard import prepare_output

    prepare_output(args.out, [args.input], suffixes=(".gpkg",), layer=LAYER_NAME, command=NAME,
                   overwrite=args.overwrite)
    progress(0, 2, "read")
    if args.input.is_dir() and args.recursive:
        from engine.data.exif import read_exif_folder

        layer = read_exif_folder(args.input, recursive=True)
    else:
        from engine.data.points import read_streetview

        layer = read_streetview(args.input, args.layer, image_field=args.image_field,
                                lon_field=args.lon_field, lat_field=args.lat_field,
                                crs=args.crs, position=args.position,
                                image_template=args.image_template,
                                photo_dir=args.photo_dir)
    from engine.data.views import expand_views

    layer, views = expand_views(layer, view_options(args))
    progress(1, 2, "read")
    write_streetview_gpkg(layer.frame, args.out, args.image_field, args.overwrite)
    progress(2, 2, "read")
    return {
        "output": str(args.out),
        "layer": LAYER_NAME,
        "photos": len(layer.frame),
        "skipped": int(layer.skipped),
        "locations": int(layer.frame["location_id"].nunique()),
        "has_times": bool(layer.has_times),
        "crs": layer.frame.crs.to_string(),
        "location_ids_derived": bool(layer.location_ids_derived),
        "panoramas": views["panoramas"],
        "views": views["views"],
        "perspective_photos": views["photos"],
        "found": layer.found,
    }


def write_streetview_gpkg(frame, out: Path, image_field: str | None = None,
                          overwrite: bool = False) -> None:
    """Write the normalised frame as layer "streetview" (GeoPackage 1.2, atomic); an existing
    GeoPackage keeps its other layers."""
    import numpy as np
    import pandas as pd

    from engine.data.points import HEADING_FIELDS, IMAGE_FIELDS, TIME_FIELDS
    from engine.export.atomic import atomic_outputs
    from engine.export.gpkg import write_gpkg
    from engine.export.guard import COMMAND_KEY, check_layer

    schema = ["image", "captured_at", "heading", "location_id"]
    geometry = frame.geometry.name
    # The source fields now mapped to the schema (same first-match rule as the reader).
    drop = {image_field} if image_field else set()
    lower = {str(c).lower(): c for c in frame.columns if c not in schema}
    for names in (() if image_field else IMAGE_FIELDS, TIME_FIELDS, HEADING_FIELDS):
        drop.add(next((lower[n] for n in names if n in lower), None))
    keep = [c for c in frame.columns if c not in drop and c not in schema and c != geometry]
    out_frame = frame[[*schema, *keep, geometry]].copy()
    times = out_frame["captured_at"]
    out_frame["captured_at"] = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(times.notna(), None)
    out_frame["heading"] = out_frame["heading"].astype("float64")
    out_frame["location_id"] = out_frame["location_id"].astype("int64")
    for col in keep:
        values = out_frame[col]
        if values.dtype == np.dtype("bool"):
            out_frame[col] = values.astype("int32")
        elif values.dtype == object or isinstance(values.dtype, pd.DatetimeTZDtype):
            out_frame[col] = values.map(lambda v: None if pd.isna(v) else str(v))
    with atomic_outputs(out, hold_lock=True) as outs:
        check_layer(out, LAYER_NAME, NAME, overwrite)
        write_gpkg(out_frame, out, LAYER_NAME, metadata={COMMAND_KEY: NAME},
                   into=outs.path(out))

"""Read a folder of geotagged JPEGs as a street-view layer (EPSG:4326 points) from EXIF.

Position from GPSLatitude/Ref and GPSLongitude/Ref; time from DateTimeOriginal with
OffsetTimeOriginal (no offset: taken as UTC, logged; no DateTimeOriginal: IFD0 DateTime);
heading from GPSImgDirection. Photos without GPS are skipped, logged and counted.
360° cameras' XMP GPano tags mark panoramas: ProjectionType=equirectangular sets `is_pano`,
PoseHeadingDegrees is the heading of the panorama's centre when GPSImgDirection is absent.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.data.points import StreetViewLayer

log = logging.getLogger(__name__)

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
TAG_DATETIME, TAG_DATETIME_ORIGINAL, TAG_OFFSET_ORIGINAL = 0x0132, 0x9003, 0x9011
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4
GPS_ALT_REF, GPS_ALT, GPS_DIRECTION_REF, GPS_DIRECTION = 5, 6, 16, 17
JPEG_SUFFIXES = (".jpg", ".jpeg")
_GPANO = {key: re.compile(rb"GPano:" + key.encode() + rb"""(?:=["']|>)\s*([^"'<\s]+)""")
          for key in ("ProjectionType", "PoseHeadingDegrees")}


def read_exif_folder(folder: str | os.PathLike[str],
                     recursive: bool = False) -> StreetViewLayer:
    """Every JPEG in `folder` with EXIF GPS -> StreetViewLayer (EPSG:4326); `.skipped` counts
    the photos without GPS. EngineError when the folder holds no geotagged JPEG.
    """
    from engine.data.points import layer_from_frame

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise EngineError(f"photo folder {folder} does not exist",
                          "give the folder that holds the geotagged JPEGs")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern)
                   if p.is_file() and p.suffix.lower() in JPEG_SUFFIXES)
    rows, skipped = [], []
    for path in files:
        row = read_exif(path)
        if row is None:
            skipped.append(path.name)
        else:
            rows.append(row)
    if skipped:
        log.warning("%s: %d of %d photos have no EXIF GPS position and are skipped, e.g. %s",
                    folder, len(skipped), len(files), ", ".join(skipped[:5]))
    if not rows:
        raise EngineError(
            f"photo folder {folder} has no JPEG with an EXIF GPS position "
            f"({len(files)} JPEG(s) found, {len(skipped)} without GPS)",
            "geotag the photos (camera/phone location on), or give a point layer or CSV",
        )
    table = pd.DataFrame(rows)
    frame = gpd.GeoDataFrame(
        table.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
    return layer_from_frame(frame, source=folder, labels=table["filename"].tolist(),
                            unit="photo", where=str(folder), check_images=False,
                            skipped=len(skipped))


def read_exif(path: Path) -> dict | None:
    """One JPEG's EXIF -> {image, filename, lon, lat, altitude, captured_at, heading}, or None
    when it has no GPS position. EngineError when the file is not a readable image.
    """
    try:
        with Image.open(path) as img:
            exif = img.getexif()
            xmp = img.info.get("xmp") or b""
    except (UnidentifiedImageError, OSError) as exc:
        raise EngineError(f"photo {path} cannot be read ({exc})",
                          "remove it from the folder or re-export it as JPEG") from None
    gps = exif.get_ifd(GPS_IFD)
    lat = _dms(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), "S")
    lon = _dms(gps.get(GPS_LON), gps.get(GPS_LON_REF), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    heading = _number(gps.get(GPS_DIRECTION))
    gpano = _gpano(xmp if isinstance(xmp, bytes) else str(xmp).encode())
    if heading is None:
        heading = _number(gpano.get("PoseHeadingDegrees"))
    if heading is not None and str(gps.get(GPS_DIRECTION_REF, "T")).upper().startswith("M"):
        log.info("%s: GPSImgDirection is magnetic; used as is (no declination applied)", path)
    altitude = _number(gps.get(GPS_ALT))
    if altitude is not None and _ref_byte(gps.get(GPS_ALT_REF)) == 1:
        altitude = -altitude
    return {"image": str(path.resolve()), "filename": path.name, "lon": lon, "lat": lat,
            "altitude": np.nan if altitude is None else altitude,
            "captured_at": _capture_time(exif, path),
            "heading": np.nan if heading is None else heading,
            "is_pano": 1.0 if gpano.get("ProjectionType", "").lower() == "equirectangular"
            else np.nan}


def _gpano(xmp: bytes) -> dict[str, str]:
    """GPano XMP values (ProjectionType, PoseHeadingDegrees) as text, when present."""
    out = {}
    for key, pattern in _GPANO.items():
        match = pattern.search(xmp)
        if match:
            out[key] = match.group(1).decode(errors="ignore")
    return out


def _capture_time(exif: Image.Exif, path: Path) -> str | None:
    """ISO 8601 UTC text from DateTimeOriginal (+ OffsetTimeOriginal), or None."""
    sub = exif.get_ifd(EXIF_IFD)
    raw, offset = sub.get(TAG_DATETIME_ORIGINAL), sub.get(TAG_OFFSET_ORIGINAL)
    if not raw:
        raw, offset = exif.get(TAG_DATETIME), None
    text = str(raw).strip().strip("\x00") if raw else ""
    if not text or text.startswith("0000"):
        return None
    try:
        when = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        raise EngineError(f"photo {path}: EXIF DateTimeOriginal {text!r} is not a date",
                          "fix it with exiftool, or remove the tag") from None
    tz = _offset(offset)
    if tz is None:
        log.info("%s: EXIF time has no OffsetTimeOriginal; taken as UTC", path.name)
        tz = timezone.utc
    return when.replace(tzinfo=tz).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _offset(value: object) -> timezone | None:
    text = str(value).strip().strip("\x00") if value else ""
    if len(text) < 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        minutes = int(text[1:3]) * 60 + int(text[4:6])
    except ValueError:
        return None
    return timezone(timedelta(minutes=minutes if text[0] == "+" else -minutes))


def _dms(value: object, ref: object, negative: str) -> float | None:
    """EXIF (deg, min, sec) rationals + N/S/E/W ref -> signed decimal degrees."""
    if value is None:
        return None
    try:
        parts = [float(v) for v in value] if isinstance(value, (tuple, list)) else [float(value)]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    parts = (parts + [0.0, 0.0])[:3]
    if not all(np.isfinite(parts)):
        return None
    degrees = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    ref_text = ref.decode(errors="ignore") if isinstance(ref, bytes) else str(ref or "")
    return -degrees if ref_text.strip().upper().startswith(negative) else degrees


def _number(value: object) -> float | None:
    try:
        number = float(value)  # IFDRational and ints
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if np.isfinite(number) else None


def _ref_byte(value: object) -> int:
    if isinstance(value, bytes):
        return value[0] if value else 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0

"""Build the installable plugin: dist/geocontrast.zip with one top-level folder `geocontrast/`.

Stdlib only: `python3 qgis_plugin/build_zip.py --out dist`. The zip holds metadata.txt,
LICENSE, the plugin's modules, icons and styles, and under `engine_dist/` the engine as a wheel
(recipes included) with the exact pins of constraints.txt, which *Set up engine…* installs into
a venv outside QGIS. Never tests, caches or the build scripts. Entries are sorted with fixed
timestamps, so the same sources give the same bytes.
"""

from __future__ import annotations

import argparse
import configparser
import os
import sys
import zipfile
from pathlib import Path

try:  # run as a script (make plugin) or imported as qgis_plugin.build_zip
    from build_engine_wheel import build_wheel
except ImportError:
    from qgis_plugin.build_engine_wheel import build_wheel

PLUGIN_DIR = Path(__file__).resolve().parent
REPO = PLUGIN_DIR.parent
TOP = "geocontrast"
REQUIRED_FIELDS = ("name", "qgisMinimumVersion", "description", "about", "version", "author",
                   "email", "repository", "tracker", "homepage", "category", "tags", "icon",
                   "experimental", "hasProcessingProvider", "license")
INCLUDED_SUFFIXES = {".py", ".svg", ".png", ".qml", ".ui", ".qm", ".txt", ".md", ".json"}
EXCLUDED_NAMES = {"build_zip.py", "build_engine_wheel.py", "__pycache__", "tests", "test"}
ENGINE_DIST = "engine_dist"  # inside the plugin folder: the engine wheel + constraints.txt
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def read_metadata(path: Path) -> dict[str, str]:
    """The [general] section of a plugin metadata.txt (keys keep their case)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # QGIS keys are camelCase
    parser.read(path, encoding="utf-8")
    if not parser.has_section("general"):
        raise ValueError(f"{path} has no [general] section")
    return dict(parser["general"])


def check_metadata(meta: dict[str, str]) -> list[str]:
    """Problems with the metadata: required fields missing or empty; icon not shipped."""
    problems = [f"metadata.txt: field '{key}' is missing or empty"
                for key in REQUIRED_FIELDS if not meta.get(key, "").strip()]
    icon = meta.get("icon", "").strip()
    if icon and not (PLUGIN_DIR / icon).is_file():
        problems.append(f"metadata.txt: icon '{icon}' is not a file under {PLUGIN_DIR}")
    return problems


def plugin_files(engine_wheel: Path | None = None) -> list[tuple[Path, str]]:
    """(source file, name inside the zip) for everything the plugin ships, sorted."""
    files = [(REPO / "metadata.txt", f"{TOP}/metadata.txt")]
    if engine_wheel is not None:
        files.append((engine_wheel, f"{TOP}/{ENGINE_DIST}/{engine_wheel.name}"))
        files.append((REPO / "constraints.txt", f"{TOP}/{ENGINE_DIST}/constraints.txt"))
    if (REPO / "LICENSE").is_file():
        files.append((REPO / "LICENSE", f"{TOP}/LICENSE"))
    for path in sorted(PLUGIN_DIR.rglob("*")):
        rel = path.relative_to(PLUGIN_DIR)
        if (not path.is_file() or path.suffix not in INCLUDED_SUFFIXES
                or any(part in EXCLUDED_NAMES or part.startswith(".") for part in rel.parts)
                or rel.name.startswith("test_")):
            continue
        files.append((path, f"{TOP}/{rel.as_posix()}"))
    return files


def build_zip(out_dir: Path) -> Path:
    """Write `out_dir/geocontrast.zip` (via a temporary sibling + rename) and return its path."""
    meta = read_metadata(REPO / "metadata.txt")
    problems = check_metadata(meta)
    if problems:
        raise ValueError("; ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(out_dir)
    target = out_dir / f"{TOP}.zip"
    tmp = out_dir / f".{TOP}.zip.tmp-{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for source, name in plugin_files(wheel):
                info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, source.read_bytes())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder")
    args = parser.parse_args(argv)
    try:
        target = build_zip(args.out)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(target) as archive:
        count = len(archive.namelist())
    print(f"{target} ({count} files, version {read_metadata(REPO / 'metadata.txt')['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

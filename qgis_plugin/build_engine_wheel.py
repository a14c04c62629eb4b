"""Build the engine as a wheel for the plugin zip (stdlib only; called by build_zip.py).

The wheel holds `engine/**/*.py` and the recipes, mapped from the repository's one copy
(`models/*.yaml`) to the package data folder `engine/recipes/`, so a ZIP install lists them
by name. Metadata (name, version, Requires-Dist, console script) comes from pyproject.toml.
Entries are sorted with fixed timestamps: the same sources give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _project() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def wheel_name() -> str:
    """geocontrast-<version>-py3-none-any.whl."""
    p = _project()
    return f"{p['name']}-{p['version']}-py3-none-any.whl"


def _sources() -> list[tuple[Path, str]]:
    files = [(path, path.relative_to(REPO).as_posix())
             for path in sorted((REPO / "engine").rglob("*.py"))
             if "__pycache__" not in path.parts]
    files += [(path, f"engine/recipes/{path.name}")
              for path in sorted((REPO / "models").glob("*.yaml"))]
    return files


def _metadata(p: dict) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}", f"Version: {p['version']}",
             f"Summary: {p.get('description', '')}",
             f"Requires-Python: {p.get('requires-python', '>=3.10')}"]
    lines += [f"Requires-Dist: {dep}" for dep in p.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def build_wheel(out_dir: Path) -> Path:
    """Write out_dir/<wheel_name()> (via a temporary sibling + rename); return its path."""
    p = _project()
    info = f"{p['name']}-{p['version']}.dist-info"
    entries = [(name, src.read_bytes()) for src, name in _sources()]
    entries.append((f"{info}/METADATA", _metadata(p).encode()))
    entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: geocontrast build_engine_"
                    b"wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    scripts = p.get("scripts", {})
    if scripts:
        text = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
        entries.append((f"{info}/entry_points.txt", text.encode()))
    record = []
    for name, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / wheel_name()
    tmp = out_dir / f".{target.name}.tmp-{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                zinfo = zipfile.ZipInfo(name, date_time=FIXED_TIME)
                zinfo.compress_type = zipfile.ZIP_DEFLATED
                zinfo.external_attr = 0o644 << 16
                archive.writestr(zinfo, data)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target

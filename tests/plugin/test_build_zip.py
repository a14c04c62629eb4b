"""`make plugin`: dist/geocontrast.zip has one top folder, the modules, icon and metadata."""

from __future__ import annotations

import configparser
import importlib
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO

REQUIRED = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
            "repository", "tracker", "homepage", "category", "tags", "icon", "experimental",
            "hasProcessingProvider", "license")


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(["/usr/bin/python3", str(REPO / "qgis_plugin" / "build_zip.py"),
                           "--out", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return out / "geocontrast.zip"


def test_zip_structure(built_zip):
    with zipfile.ZipFile(built_zip) as archive:
        names = archive.namelist()
        meta_text = archive.read("geocontrast/metadata.txt").decode("utf-8")
    assert {n.split("/")[0] for n in names} == {"geocontrast"}
    for needed in ("metadata.txt", "LICENSE", "__init__.py", "plugin.py", "engine_runner.py",
                   "settings.py", "processing/provider.py", "processing/engine_algorithm.py",
                   "processing/sample_city.py", "icons/geocontrast.svg"):
        assert f"geocontrast/{needed}" in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")
                or "/tests/" in n or n.endswith("build_zip.py")]
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(meta_text)
    meta = parser["general"]
    assert [k for k in REQUIRED if not meta.get(k, "").strip()] == []
    assert meta["qgisMinimumVersion"] == "3.22" and meta["hasProcessingProvider"] == "yes"
    assert meta["license"] == "GPL-2.0-or-later"
    assert f"geocontrast/{meta['icon']}" in names


def test_zip_is_reproducible(built_zip, tmp_path):
    subprocess.run([sys.executable, str(REPO / "qgis_plugin" / "build_zip.py"),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    assert (tmp_path / "geocontrast.zip").read_bytes() == built_zip.read_bytes()


def test_zipped_plugin_loads_under_its_own_name(built_zip, tmp_path, qgis_iface, qgis_processing,
                                                monkeypatch):
    from qgis.core import QgsApplication

    with zipfile.ZipFile(built_zip) as archive:
        archive.extractall(tmp_path / "plugins")
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setattr(qgis_iface, "removePluginMenu", lambda *a: None, raising=False)
    package = importlib.import_module("geocontrast")
    try:
        plugin = package.classFactory(qgis_iface)
        plugin.initGui()
        assert QgsApplication.processingRegistry().providerById("geocontrast") is not None
        assert len(plugin.toolbar.actions()) >= 4
        plugin.unload()
        assert QgsApplication.processingRegistry().providerById("geocontrast") is None
    finally:
        for name in [m for m in sys.modules if m == "geocontrast" or m.startswith("geocontrast.")]:
            del sys.modules[name]

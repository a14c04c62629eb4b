"""Engine exports open in real QGIS 3.22 as they are: styled GeoPackage layers (from the
file's layer_styles table), a pseudocolor GeoTIFF map (.qml sidecar), an RGB preview and
embedding BLOBs. The files are written by the engine venv in a subprocess."""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest
from conftest import REPO
from qgis.core import QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QVariant

ENGINE_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path

    import geopandas as gpd
    import numpy as np
    from rasterio.transform import from_origin
    from shapely.geometry import Point, box

    from engine.export.embeddings_gpkg import write_embeddings_gpkg
    from engine.export.geotiff import write_geotiff
    from engine.export.gpkg import write_gpkg
    from engine.export.preview import pca_preview
    from engine.export.styles import categorized_style, graduated_style

    out = Path(sys.argv[1])
    crs = "EPSG:32617"
    rng = np.random.default_rng(0)
    pts = gpd.GeoDataFrame(
        {"income_pred": np.linspace(20_000.0, 90_000.0, 30), "income_unc": np.full(30, 5e3)},
        geometry=[Point(328_000 + 7 * i, 4_421_000 + 3 * i) for i in range(30)], crs=crs)
    write_gpkg(pts, out / "maps.gpkg", "income",
               style=graduated_style(pts["income_pred"], "income_pred", n_classes=5,
                                     mode="equal", ramp="RdYlBu"))
    tracts = gpd.GeoDataFrame({"tract_id": [1, 2, 3], "landuse": ["park", "homes", "shops"]},
                              geometry=[box(328_000 + 100 * i, 4_421_000, 328_100 + 100 * i,
                                            4_421_100) for i in range(3)], crs=crs)
    write_gpkg(tracts, out / "maps.gpkg", "landuse",
               style=categorized_style(tracts["landuse"], "landuse"))
    write_embeddings_gpkg(pts, rng.normal(size=(30, 8)), out / "emb.gpkg", layer="photos",
                          model="tiny", style=graduated_style(pts["income_pred"], "income_pred"))
    transform = from_origin(328_000.0, 4_421_400.0, 1.0, 1.0)
    write_geotiff(rng.random((1, 64, 64)).astype("float32"), crs, transform, out / "map.tif",
                  qml_ramp="viridis")
    write_geotiff(rng.normal(size=(6, 64, 64)).astype("float32"), crs, transform,
                  out / "field.tif", dtype="int8")
    pca_preview(out / "field.tif", out / "preview.tif", sample=1000)
    from engine.export.styles import raster_paletted_qml, write_qml
    write_geotiff(rng.integers(0, 3, (2, 64, 64)).astype("float32"), crs, transform,
                  out / "fewshot.tif")
    write_qml(out / "fewshot.tif", raster_paletted_qml(["park", "homes", "shops"]))
""")


@pytest.fixture(scope="module")
def engine_outputs(tmp_path_factory):
    """Run the engine's exporters in the engine venv, as the plugin would."""
    python = REPO / ".venv" / "bin" / "python"
    if not python.is_file():
        pytest.fail(f"engine interpreter {python} missing: run `make setup-engine`")
    out = tmp_path_factory.mktemp("styled")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJ_", "GDAL_"))}
    proc = subprocess.run([str(python), "-c", ENGINE_SCRIPT, str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_graduated_gpkg_opens_styled(qgis_app, engine_outputs):
    layer = QgsVectorLayer(f"{engine_outputs / 'maps.gpkg'}|layername=income", "income", "ogr")
    assert layer.isValid() and layer.featureCount() == 30
    renderer = layer.renderer()
    assert renderer.type() == "graduatedSymbol"
    assert type(renderer).__name__ == "QgsGraduatedSymbolRenderer"
    assert renderer.classAttribute() == "income_pred"
    ranges = renderer.ranges()
    assert len(ranges) == 5
    assert ranges[0].lowerValue() == pytest.approx(20_000.0)
    assert ranges[-1].upperValue() == pytest.approx(90_000.0)
    assert ranges[1].lowerValue() == pytest.approx(34_000.0)  # equal intervals of 14 000
    colours = [r.symbol().color().name() for r in ranges]
    assert len(set(colours)) == 5 and colours[0] == "#a50026"  # RdYlBu starts dark red
    assert all(r.symbol().type() == 0 for r in ranges)  # marker symbols for points


def test_categorized_polygons_open_styled(qgis_app, engine_outputs):
    layer = QgsVectorLayer(f"{engine_outputs / 'maps.gpkg'}|layername=landuse", "lu", "ogr")
    assert layer.isValid()
    renderer = layer.renderer()
    assert renderer.type() == "categorizedSymbol"
    assert renderer.classAttribute() == "landuse"
    assert sorted(c.value() for c in renderer.categories()) == ["homes", "park", "shops"]
    assert all(c.symbol().type() == 2 for c in renderer.categories())  # fills


def test_embedding_layer_has_blob_and_style(qgis_app, engine_outputs):
    layer = QgsVectorLayer(f"{engine_outputs / 'emb.gpkg'}|layername=photos", "emb", "ogr")
    assert layer.isValid() and layer.featureCount() == 30
    field = layer.fields().field("embedding")
    assert field.type() == QVariant.ByteArray
    feature = next(layer.getFeatures())
    assert len(bytes(feature["embedding"])) == 8 * 4  # 8 little-endian float32
    assert layer.renderer().type() == "graduatedSymbol"


def test_geotiffs_open_as_maps(qgis_app, engine_outputs):
    single = QgsRasterLayer(str(engine_outputs / "map.tif"), "map")
    assert single.isValid()
    assert single.renderer().type() == "singlebandpseudocolor"  # from map.qml
    items = single.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert items[0].color.name() == "#440154"  # viridis
    preview = QgsRasterLayer(str(engine_outputs / "preview.tif"), "preview")
    assert preview.isValid() and preview.bandCount() == 3
    assert preview.renderer().type() == "multibandcolor"
    field = QgsRasterLayer(str(engine_outputs / "field.tif"), "field")
    assert field.isValid() and field.bandCount() == 6
    assert field.crs().authid() == "EPSG:32617"
    assert field.dataProvider().bandScale(1) != 1.0  # int8 quantisation scale is visible
    classes = QgsRasterLayer(str(engine_outputs / "fewshot.tif"), "few-shot")
    assert classes.isValid() and classes.renderer().type() == "paletted"  # from fewshot.qml
    assert [(c.value, c.label) for c in classes.renderer().classes()] == [
        (0.0, "park"), (1.0, "homes"), (2.0, "shops")]
    assert len({c.color.name() for c in classes.renderer().classes()}) == 3

"""Map results come back styled and grouped through Processing's own result handling (what
the dialog and runAndLoadResults run), and pre-fill / checks go by the engine's kind tags."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import RecordingFeedback, tiny_geotiff
from qgis.core import QgsApplication, QgsProcessingContext, QgsProject, QgsRasterLayer


def tagged_geotiff(path, kind: str, bands: int = 3) -> str:
    """A real GeoTIFF carrying the engine's GEOCONTRAST_KIND tag."""
    from osgeo import gdal

    tiny_geotiff(path, bands=bands)
    ds = gdal.Open(str(path), gdal.GA_Update)
    ds.SetMetadataItem("GEOCONTRAST_KIND", kind)
    ds = None
    return str(path)


def class_geotiff(path) -> str:
    """band 1: class index 0/1/2, band 2: confidence (as a few-shot map)."""
    from osgeo import gdal

    tiny_geotiff(path, bands=2)
    ds = gdal.Open(str(path), gdal.GA_Update)
    classes = (np.arange(32 * 32).reshape(32, 32) % 3).astype("<f4")
    ds.GetRasterBand(1).WriteRaster(0, 0, 32, 32, classes.tobytes())  # no gdal_array
    ds = None
    return str(path)


def handle(alg, result: dict) -> QgsProject:
    """collect_outputs + Processing's handleAlgorithmResults, as after a dialog run."""
    from processing.gui.Postprocessing import handleAlgorithmResults

    context, feedback = QgsProcessingContext(), RecordingFeedback()
    context.setProject(QgsProject.instance())
    alg.collect_outputs(result, {}, context, feedback)
    assert handleAlgorithmResults(alg, context, feedback)
    return QgsProject.instance()


def group_layers(project: QgsProject, name: str) -> list:
    group = project.layerTreeRoot().findGroup(name)
    assert group is not None, [c.name() for c in project.layerTreeRoot().children()]
    return [node.layer() for node in group.findLayers()]


def test_map_raster_is_pseudocolour_band1_with_a_robust_ramp(tmp_path, geocontrast_provider,
                                                             clean_project):
    tif = tiny_geotiff(tmp_path / "income.tif", bands=2)
    alg = QgsApplication.processingRegistry().algorithmById("geocontrast:zero_shot_map")
    project = handle(alg, {"kind": "zero_shot", "target": "income", "geotiff": tif,
                           "gpkg": "", "reliable": True})
    (layer,) = group_layers(project, "GeoContrast: income")
    renderer = layer.renderer()
    assert renderer.type() == "singlebandpseudocolor" and renderer.band() == 1
    shader = renderer.shader().rasterShaderFunction()
    block = layer.dataProvider().block(1, layer.extent(), 32, 32)
    data = np.frombuffer(bytes(block.data()), dtype=np.float32).astype(float)
    lo, hi = np.quantile(data, [0.02, 0.98])  # the stretch is the 2-98 % cut, not min/max
    assert shader.minimumValue() == pytest.approx(lo, abs=0.02)
    assert shader.maximumValue() == pytest.approx(hi, abs=0.02)
    assert data.min() < shader.minimumValue() < shader.maximumValue() < data.max()
    assert not shader.clip()  # beyond the stretch: the end colours, never transparent
    top = renderer.block(1, layer.extent(), 32, 32)
    assert top.color(*divmod(int(np.argmax(data)), 32)) >> 24 == 255  # opaque (ARGB)


def test_fewshot_raster_is_paletted_with_class_names(tmp_path, geocontrast_provider,
                                                     clean_project):
    tif = class_geotiff(tmp_path / "fewshot.tif")
    alg = QgsApplication.processingRegistry().algorithmById("geocontrast:fewshot_map")
    project = handle(alg, {"kind": "fewshot", "geotiff": tif, "gpkg": "",
                           "classes": ["homes", "park", "shops"]})
    (layer,) = group_layers(project, "GeoContrast: fewshot")
    renderer = layer.renderer()
    assert renderer.type() == "paletted" and renderer.band() == 1
    assert [(c.value, c.label) for c in renderer.classes()] == [
        (0, "homes"), (1, "park"), (2, "shops")]


def test_prefill_and_checks_go_by_kind(tmp_path, geocontrast_provider, clean_project):
    from qgis_plugin.prefill import layer_defaults

    field = QgsRasterLayer(tagged_geotiff(tmp_path / "f.tif", "embedding_field", 16), "field")
    preview = QgsRasterLayer(tagged_geotiff(tmp_path / "f_pca.tif", "embedding_preview"), "pca")
    image = QgsRasterLayer(tiny_geotiff(tmp_path / "image.tif"), "image")
    clean_project.addMapLayers([field, preview, image])
    registry = QgsApplication.processingRegistry()
    zero = registry.algorithmById("geocontrast:zero_shot_map")
    embed = registry.algorithmById("geocontrast:embed_raster")
    layers = [preview, image, field]  # the preview is the active layer
    for name in ("zero_shot_map", "predict_map"):
        alg = registry.algorithmById(f"geocontrast:{name}")
        assert layer_defaults(alg, layers)["FIELD"] == field.id(), name
    assert layer_defaults(embed, layers)["INPUT"] == image.id()  # an image, never a field
    head = tmp_path / "h.safetensors"
    head.write_bytes(b"\0")
    ok, message = zero.checkParameterValues(
        {"HEAD": str(head), "FIELD": preview, "OUTPUT": str(tmp_path)}, QgsProcessingContext())
    assert not ok and "3-band PCA preview" in message and "'Embedding field" in message


def test_map_outputs_never_overwrite_unless_asked(tmp_path, geocontrast_provider):
    from qgis_plugin.processing.common import free_name

    alg = QgsApplication.processingRegistry().algorithmById("geocontrast:zero_shot_map")
    params = {"HEAD": "h", "FIELD": "f", "OUTPUT": str(tmp_path)}
    context = QgsProcessingContext()
    name_of = lambda p: alg.engine_args(p, context, None)[-1]  # noqa: E731
    assert name_of(params) == "zero_shot"
    (tmp_path / "zero_shot.png").write_bytes(b"")
    assert name_of(params) == "zero_shot_2"
    (tmp_path / "zero_shot_2.gpkg").write_bytes(b"")
    assert free_name(tmp_path, "zero_shot") == "zero_shot_3"
    assert name_of({**params, "OVERWRITE": True}) == "zero_shot"

"""The whole job through the plugin, as a QGIS user runs it: sample city -> pretrain (a few
steps of a tiny cross-view model) -> embed photos + raster -> fit a head on tracts (spatial
CV) -> zero-shot map -> fused photo + overhead head and its map at the photos -> few-shot
class map -> similarity map (algorithm and dock). Every step drives the real engine
subprocess; every output opens in QGIS."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import REPO, RecordingFeedback, write_gpkg
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsGeometry,
    QgsProcessingContext,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication

from qgis_plugin.similarity_dock import SimilarityDock

TINY = " ".join(
    [f"model.{enc}.backbone_kw.{k}={v}" for enc in ("image", "overhead")
     for k, v in (("width", 4), ("depth", 2), ("out_dim", 16))]
    + ["model.image.hidden_dim=32", "model.overhead.hidden_dim=32", "model.embedding_dim=16",
       "data.image_size=32", "data.chip_size=32", "train.batch_size=16",
       "train.checkpoint_every=0"])


def chained_model():
    """A graphical-modeler model an analyst could draw: fit_head, its label field a field input
    whose parent is the polygons input, then zero_shot_map on the head that fit_head wrote."""
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelParameter,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterField,
        QgsProcessingParameterRasterLayer,
        QgsProcessingParameterVectorLayer,
    )
    from qgis.core import QgsProcessingModelChildParameterSource as Source

    model = QgsProcessingModelAlgorithm("fit then map", "tests")
    for definition in (QgsProcessingParameterVectorLayer("embeddings", "Photo embeddings"),
                       QgsProcessingParameterFeatureSource("polygons", "Label polygons"),
                       QgsProcessingParameterField("label", "Label field",
                                                   parentLayerParameterName="polygons"),
                       QgsProcessingParameterRasterLayer("field", "Embedding field")):
        model.addModelParameter(definition, QgsProcessingModelParameter(definition.name()))
    steps = (("fit", "geocontrast:fit_head", {
                 "EMBEDDINGS": Source.fromModelParameter("embeddings"),
                 "POLYGONS": Source.fromModelParameter("polygons"),
                 "TARGET": Source.fromModelParameter("label"),
                 "BLOCK_SIZE": Source.fromStaticValue(150), "FOLDS": Source.fromStaticValue(3)}),
             ("map", "geocontrast:zero_shot_map", {
                 "HEAD": Source.fromChildOutput("fit", "OUTPUT"),
                 "FIELD": Source.fromModelParameter("field"),
                 "POLYGONS": Source.fromModelParameter("polygons"),
                 "ID_FIELD": Source.fromStaticValue("tract_id")}))
    for child_id, algorithm_id, sources in steps:
        child = QgsProcessingModelChildAlgorithm(algorithm_id)
        child.setChildId(child_id)
        for name, source in sources.items():  # (setParameterSources crashes in 3.22's sip)
            child.addParameterSources(name, [source])
        model.addChildAlgorithm(child)
    return model


@pytest.mark.slow
def test_pipeline_through_processing(geocontrast_provider, small_city, tmp_path, clean_project,
                                     qgis_iface, qgis_canvas):
    import processing

    logs: dict[str, list[str]] = {}

    def run(alg: str, params: dict) -> dict:
        context, feedback = QgsProcessingContext(), RecordingFeedback()
        context.setProject(QgsProject.instance())
        result = processing.run(f"geocontrast:{alg}", params, context=context,
                                feedback=feedback)
        logs[alg] = feedback.messages
        algorithm = QgsApplication.processingRegistry().algorithmById(f"geocontrast:{alg}")
        declared = {o.name() for o in algorithm.outputDefinitions()}
        assert set(result) <= declared, set(result) - declared  # what the dialog prints
        return result

    photos = QgsVectorLayer(f"{small_city / 'streetview.gpkg'}|layername=streetview", "sv")
    overhead = [str(p) for p in sorted((small_city / "overhead").glob("*.tif"))]
    model = tmp_path / "model"
    run("pretrain", {"CONFIG": str(REPO / "models" / "crossview.yaml"), "STREETVIEW": photos,
                     "OVERHEAD": overhead, "STEPS": 3, "DEVICE": 1, "OVERRIDES": TINY,
                     "OUTPUT": str(model)})
    assert (model / "model.safetensors").is_file() and (model / "config.yaml").is_file()

    emb = run("embed_points", {"MODEL": str(model), "INPUT": photos, "DEVICE": 1,
                               "BATCH_SIZE": 64, "OUTPUT": str(tmp_path / "emb.gpkg")})
    emb_layer = QgsVectorLayer(emb["OUTPUT"], "emb")
    assert emb_layer.isValid() and emb_layer.featureCount() == photos.featureCount()

    field = run("embed_raster", {"MODEL": str(model), "INPUT": overhead[-1], "STRIDE": 16,
                                 "DEVICE": 1, "OUTPUT": str(tmp_path / "field.tif")})
    field_layer = QgsRasterLayer(field["OUTPUT"], "field")
    assert field_layer.isValid() and field_layer.bandCount() == 16
    preview = QgsRasterLayer(field["PREVIEW"], "preview")  # the field's preview, loaded too
    assert preview.isValid() and preview.bandCount() == 3
    assert field_layer.crs().authid() == "EPSG:32617"

    head = run("fit_head", {"EMBEDDINGS": emb_layer,
                            "POLYGONS": f"{small_city / 'tracts.gpkg'}|layername=tracts",
                            "TARGET": "income", "BLOCK_SIZE": 150, "FOLDS": 3,
                            "OUTPUT": str(tmp_path / "income.safetensors")})
    assert set(head) == {"OUTPUT", "CV_REPORT"}
    assert head["OUTPUT"].endswith(".safetensors")
    cv = json.loads(Path(head["CV_REPORT"]).read_text(encoding="utf-8"))
    assert cv["target"] == "income" and cv["mean"]  # the scores, per fold and averaged
    assert any(line.startswith("  spatial CV: ") for m in logs["fit_head"]
               for line in m.splitlines())  # ...and in words in the log

    zero = run("zero_shot_map", {"HEAD": head["OUTPUT"], "FIELD": field_layer,
                                 "POLYGONS": f"{small_city / 'tracts.gpkg'}|layername=tracts",
                                 "NAME": "income", "OUTPUT": str(tmp_path / "maps")})
    assert set(zero) == {"GEOTIFF", "CELLS_LAYER", "POLYGONS_LAYER", "OUTPUT", "RELIABLE"}
    assert QgsRasterLayer(zero["GEOTIFF"], "z").isValid()
    per_tract = QgsVectorLayer(zero["POLYGONS_LAYER"], "zt")
    assert per_tract.isValid() and per_tract.featureCount() > 0
    assert per_tract.renderer().type() == "graduatedSymbol"  # opened styled from the gpkg

    # near/remote fusion: a photo + overhead head, then that head at the photos
    fused = run("fit_head", {"EMBEDDINGS": emb_layer, "POINT_TARGET": "perception_beautiful",
                             "FUSE_FIELD": field_layer, "BLOCK_SIZE": 150, "FOLDS": 3,
                             "OUTPUT": str(tmp_path / "beautiful_fused.safetensors")})
    # through the dialog's load path: Processing's own result handling loads the queued layer
    from processing.gui.Postprocessing import handleAlgorithmResults

    context, feedback = QgsProcessingContext(), RecordingFeedback()
    context.setProject(QgsProject.instance())
    fused_alg = QgsApplication.processingRegistry().algorithmById("geocontrast:fused_map")
    at_photos = processing.run(fused_alg, {
        "HEAD": fused["OUTPUT"], "EMBEDDINGS": emb_layer, "FIELD": field_layer,
        "OUTPUT": str(tmp_path / "fused")}, context=context, feedback=feedback)
    assert handleAlgorithmResults(fused_alg, context, feedback)
    group = QgsProject.instance().layerTreeRoot().findGroup("GeoContrast: fused")
    assert group is not None
    (points,) = [node.layer() for node in group.findLayers()]
    assert points.source() == at_photos["POINTS_LAYER"]
    assert points.isValid() and 0 < points.featureCount() <= emb_layer.featureCount()
    assert points.renderer().type() == "graduatedSymbol"  # loaded styled
    assert points.fields().indexOf("prediction") >= 0

    # two embeddings of the same photos, stacked (the same layer twice here: the plumbing;
    # tests/engine/test_fuse_field_fit.py stacks two models' embeddings)
    both = run("fit_head", {"EMBEDDINGS": emb_layer, "POINT_TARGET": "perception_beautiful",
                            "FUSE_EMBEDDINGS": emb_layer, "BLOCK_SIZE": 150, "FOLDS": 3,
                            "OUTPUT": str(tmp_path / "beautiful_both.safetensors")})
    fused_meta = json.loads(Path(both["OUTPUT"]).with_suffix(".json").read_text())
    assert fused_meta["fusion"]["second_view"] == "embeddings"
    both_map = run("fused_map", {"HEAD": both["OUTPUT"], "EMBEDDINGS": emb_layer,
                                 "FUSE_EMBEDDINGS": emb_layer, "OUTPUT": str(tmp_path / "both")})
    both_points = QgsVectorLayer(both_map["POINTS_LAYER"], "both")
    assert both_points.featureCount() == emb_layer.featureCount()
    ok, message = fused_alg.checkParameterValues(
        {"HEAD": both["OUTPUT"], "EMBEDDINGS": emb_layer, "FIELD": field_layer,
         "FUSE_EMBEDDINGS": emb_layer, "OUTPUT": str(tmp_path / "both2")}, context)
    assert not ok and "one of them" in message

    # the modeler: field inputs take a field name; fit_head's head feeds zero_shot_map
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    modelled = processing.run(chained_model(), {
        "embeddings": emb_layer, "polygons": f"{small_city / 'tracts.gpkg'}|layername=tracts",
        "label": "income", "field": field_layer}, context=context)["CHILD_RESULTS"]
    assert set(modelled["fit"]) == {"OUTPUT", "CV_REPORT"}
    per_tract = QgsVectorLayer(modelled["map"]["POLYGONS_LAYER"], "modelled")
    assert per_tract.featureCount() > 0 and per_tract.fields().indexOf("tract_id") >= 0

    mem = QgsVectorLayer("Point?crs=EPSG:32617&field=positive:integer", "ex", "memory")
    example = QgsFeature(mem.fields())
    example.setAttributes([1])
    example.setGeometry(next(photos.getFeatures()).geometry())
    mem.dataProvider().addFeatures([example])
    examples = write_gpkg(mem, tmp_path / "examples.gpkg", "examples")
    sim = run("similarity_map", {"EMBEDDINGS": emb_layer, "EXAMPLES": examples,
                                 "EXAMPLE_FIELD": "positive", "OUTPUT": str(tmp_path / "sim")})
    sim_points = QgsVectorLayer(sim["POINTS_LAYER"], "s")
    assert sim_points.isValid() and sim_points.featureCount() == emb_layer.featureCount()
    best = max(sim_points.getFeatures(), key=lambda f: f["similarity"])
    assert best.geometry().equals(QgsGeometry(example.geometry()))

    # Few-shot: two classes from a handful of labelled photos (safer / less safe).
    labelled = processing.run("native:fieldcalculator", {
        "INPUT": photos, "FIELD_NAME": "cls", "FIELD_TYPE": 2, "FIELD_LENGTH": 10,
        "FORMULA": "if(\"perception_safety\" > median(\"perception_safety\"), 'safer', 'less')",
        "OUTPUT": str(tmp_path / "labelled.gpkg")})["OUTPUT"]
    few = run("fewshot_map", {"FIELD": field_layer, "POINTS": labelled, "CLASS_FIELD": "cls",
                              "BLOCK_SIZE": 150, "OUTPUT": str(tmp_path / "few")})
    classes = QgsRasterLayer(few["GEOTIFF"], "few")
    assert classes.isValid() and classes.crs().authid() == "EPSG:32617"
    assert set(few) == {"GEOTIFF", "CELLS_LAYER", "OUTPUT"}
    assert any("  classes: less, safer" in m.splitlines() for m in logs["fewshot_map"])

    # The dock does the same from a click, through an EngineTask and the real engine.
    clean_project.addMapLayer(emb_layer)
    clean_project.setPresetHomePath(str(tmp_path))  # the dock writes under the project folder
    qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32617"))
    dock = SimilarityDock(qgis_iface)
    try:
        dock.layer_box.setLayer(emb_layer)
        dock.add_example(example.geometry().asPoint())
        task = dock.run()
        assert task is not None and (task.command, task.args[0]) == ("map", "similarity")
        examples = task.args[task.args.index("--examples") + 1]
        assert QgsVectorLayer(examples, "examples", "ogr").featureCount() == 1
        assert dock.status.text() == "Running…"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not dock.status.text().startswith(("Done",
                                                                                  "Failed")):
            QCoreApplication.processEvents()
            time.sleep(0.05)
        assert dock.status.text().startswith("Done"), dock.status.text()
        loaded = [lyr for lyr in clean_project.mapLayers().values() if lyr.name() == "Similarity"]
        assert loaded and loaded[0].isValid()
        assert loaded[0].featureCount() == emb_layer.featureCount()
        assert (tmp_path / "geocontrast" / "similarity").is_dir()
    finally:
        clean_project.setPresetHomePath("")
        dock.close()
        dock.deleteLater()

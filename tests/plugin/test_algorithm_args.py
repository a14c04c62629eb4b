"""Model-based algorithms: checks before the engine starts, and the argv they build."""

from __future__ import annotations

import pytest
from conftest import tiny_geotiff, write_gpkg
from qgis.core import (
    QgsApplication,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)


@pytest.fixture()
def files(tmp_path, geocontrast_provider, clean_project):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.yaml").write_text("name: m\n")
    (model / "model.safetensors").write_bytes(b"\0")
    points = QgsVectorLayer("Point?crs=EPSG:32617&field=cls:string&field=positive:integer",
                            "p", "memory")
    feats = []
    for i, cls in enumerate(["park", "park", "shops"]):
        f = QgsFeature(points.fields())
        f.setAttributes([cls, int(i != 2)])
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(328005 + 5 * i, 4421390)))
        feats.append(f)
    points.dataProvider().addFeatures(feats)
    polys = QgsVectorLayer("Polygon?crs=EPSG:32617&field=income:double", "t", "memory")
    f = QgsFeature(polys.fields())
    f.setAttributes([5.0])
    f.setGeometry(QgsGeometry.fromWkt(
        "POLYGON((328000 4421370, 328030 4421370, 328030 4421400, 328000 4421370))"))
    polys.dataProvider().addFeatures([f])
    out = {"model": str(model),
           "raster": QgsRasterLayer(tiny_geotiff(tmp_path / "field.tif"), "field"),
           "points": QgsVectorLayer(write_gpkg(points, tmp_path / "pts.gpkg", "pts"), "pts"),
           "polys": QgsVectorLayer(write_gpkg(polys, tmp_path / "t.gpkg", "tracts")
                                    + "|layername=tracts", "t"),
           "tmp": tmp_path}
    for key in ("raster", "points", "polys"):
        assert out[key].isValid()
        QgsProject.instance().addMapLayer(out[key])
    return out


def _alg(name):
    return QgsApplication.processingRegistry().algorithmById(f"geocontrast:{name}")


def _check(alg, params):
    return alg.checkParameterValues(params, QgsProcessingContext())


def _args(alg, params):
    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    return alg.engine_args(params, ctx, QgsProcessingFeedback())


def test_model_folder_is_checked(files):
    alg = _alg("embed_points")
    params = {"MODEL": str(files["tmp"]), "INPUT": files["points"], "OUTPUT": "x.gpkg"}
    ok, message = _check(alg, params)
    assert not ok and "config.yaml or model.safetensors" in message
    assert _check(alg, {**params, "MODEL": files["model"]}) == (True, "")


def test_embed_raster_extent_goes_to_raster_crs(files):
    alg = _alg("embed_raster")
    params = {"MODEL": files["model"], "INPUT": files["raster"],
              "EXTENT": "328004,328020,4421380,4421396 [EPSG:32617]", "DTYPE": 1,
              "OUTPUT": str(files["tmp"] / "f.tif")}
    assert _check(alg, params) == (True, "")
    args = _args(alg, params)
    assert args[args.index("--bbox") + 1:args.index("--bbox") + 5] == [
        "328004.000000", "4421380.000000", "328020.000000", "4421396.000000"]
    assert args[args.index("--dtype") + 1] == "int8"
    assert args[args.index("--raster") + 1] == files["raster"].source()


def test_fit_head_checks_labels(files):
    alg = _alg("fit_head")
    base = {"TARGET": "income", "OUTPUT": str(files["tmp"] / "head.safetensors")}
    assert "photo embeddings" in _check(alg, base)[1]
    assert "need photo embeddings or an embedding field" in _check(
        alg, {**base, "POLYGONS": files["polys"]})[1]
    assert "no field 'nope'" in _check(
        alg, {**base, "TARGET": "nope", "POLYGONS": files["polys"], "FIELD": files["raster"]})[1]
    params = {**base, "POLYGONS": files["polys"], "FIELD": files["raster"], "HEAD": 2}
    assert _check(alg, params)[0]  # no block size: the engine derives it (and the folds)
    params["BLOCK_SIZE"] = 200
    ok, message = _check(alg, params)  # one labelled polygon: one CV block, five folds asked
    assert not ok and message.startswith("'CV block size (metres)' 200 gives only 1 block ")
    assert "needs at least 2" in message and "label features in more than one place" in message
    args = _args(alg, params)
    assert args[:2] == ["--target", "income"]
    assert args[args.index("--polygons") + 1].endswith("t.gpkg")
    assert args[args.index("--polygons-layer") + 1] == "tracts"
    assert args[args.index("--head") + 1] == "knn"
    # the label field follows the layer that holds the labels, named as the dialog names it
    no_label = {"POLYGONS": files["polys"], "FIELD": files["raster"], "OUTPUT": base["OUTPUT"]}
    assert _check(alg, no_label)[1].startswith("Choose 'Label field of the polygons'")
    points = {"EMBEDDINGS": files["points"], "OUTPUT": base["OUTPUT"]}
    assert _check(alg, points)[1].startswith(
        "Choose 'Label field of the photo embeddings (without polygons)'")
    assert "no field 'nope'" in _check(alg, {**points, "POINT_TARGET": "nope"})[1]
    for labels in ({"POINT_TARGET": "cls"}, {"TARGET": "cls"}):  # TARGET: as before the pickers
        assert _check(alg, {**points, **labels}) == (True, "")
        args = _args(alg, {**points, **labels})
        assert args[:4] == ["--target", "cls", "--embeddings", str(files["tmp"] / "pts.gpkg")]
    # the engine's hint for a text label and a ridge head, in the dialog's words
    assert alg.in_dialog_words("choose a numeric --target, or --head logistic for classes") \
        == "choose a numeric label field, or 'Head' logistic for classes"
    # with polygons, their field wins over the photo embeddings' one
    both = {**points, "POLYGONS": files["polys"], "TARGET": "income", "POINT_TARGET": "cls"}
    assert _args(alg, both)[:2] == ["--target", "income"]


def test_label_and_id_fields_are_field_pickers(files, qgis_iface, monkeypatch):
    """In the real dialog each field parameter lists the fields of its own layer parameter;
    what the analyst picks there is what the engine gets."""
    import processing
    from qgis.gui import QgsBrowserGuiModel

    browser = QgsBrowserGuiModel()  # the test iface has none; the dialog's file widgets ask
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    layers = {"POLYGONS": files["polys"], "EMBEDDINGS": files["points"]}
    head = files["tmp"] / "head.safetensors"
    head.write_bytes(b"\0")
    a_map = {"HEAD": str(head), "FIELD": files["raster"], "OUTPUT": str(files["tmp"] / "maps")}
    pickers = {"fit_head": {"TARGET": "income", "POINT_TARGET": "cls"},
               "zero_shot_map": {"ID_FIELD": "income"}, "predict_map": {"ID_FIELD": "income"}}
    for name, fields in pickers.items():
        alg = _alg(name)
        given = {k: v for k, v in layers.items() if alg.parameterDefinition(k)}
        dialog = processing.createAlgorithmDialog(f"geocontrast:{name}", {
            **given, **(a_map if name.endswith("_map") else {})})
        try:
            for param, field in fields.items():
                definition = alg.parameterDefinition(param)
                assert definition.type() == "field", (name, param)
                parent = layers[definition.parentLayerParameterName()]
                combo = dialog.mainWidget().wrappers[param].wrappedWidget()
                offered = [combo.itemText(i) for i in range(combo.count())]
                assert [f for f in offered if f] == parent.fields().names(), (name, param)
                combo.setCurrentIndex(offered.index(field))
            chosen = dialog.mainWidget().createProcessingParameters()
            assert {p: chosen[p] for p in fields} == fields
        finally:
            dialog.deleteLater()
    args = _args(_alg("predict_map"), chosen)
    assert args[args.index("--id-field") + 1] == "income"


def test_zero_shot_or_time_map(files):
    alg = _alg("zero_shot_map")
    head = files["tmp"] / "head.safetensors"
    head.write_bytes(b"\0")
    params = {"HEAD": str(head), "FIELD": files["raster"], "NAME": "income",
              "OUTPUT": str(files["tmp"] / "maps")}
    assert _args(alg, params)[0] == "zero_shot"
    timed = {**params, "DATETIME": "2023-07-12T14:00:00Z"}
    assert "needs the model folder" in _check(alg, timed)[1]
    args = _args(alg, {**timed, "MODEL": files["model"]})
    assert args[0] == "time" and args[args.index("--datetime") + 1] == "2023-07-12T14:00:00Z"
    assert args[-4:] == ["--out", str(files["tmp"] / "maps"), "--name", "income"]
    ok, message = _check(alg, {**params, "NAME": "../escaped"})
    assert not ok and "'Output name' '../escaped' is not a plain file name" in message


def test_similarity_needs_exactly_one_source(files):
    alg = _alg("similarity_map")
    params = {"EXAMPLES": files["points"], "EXAMPLE_FIELD": "positive",
              "OUTPUT": str(files["tmp"] / "maps")}
    assert "one of the two" in _check(alg, params)[1]
    assert "one of the two" in _check(
        alg, {**params, "FIELD": files["raster"], "EMBEDDINGS": files["points"]})[1]
    args = _args(alg, {**params, "FIELD": files["raster"]})
    assert args[:3] == ["similarity", "--field", files["raster"].source()]
    assert args[args.index("--example-field") + 1] == "positive"


def test_fewshot_needs_two_classes(files):
    alg = _alg("fewshot_map")
    params = {"FIELD": files["raster"], "POINTS": files["points"], "CLASS_FIELD": "cls",
              "OUTPUT": str(files["tmp"] / "maps")}
    assert _check(alg, params) == (True, "")
    one_class = {**params, "CLASS_FIELD": "positive"}
    assert _check(alg, one_class) == (True, "")  # 0/1: two classes
    ok, message = _check(alg, {**params, "CLASS_FIELD": "nosuch"})
    assert not ok and "no field 'nosuch'; fields are fid, cls, positive" in message
    args = _args(alg, params)
    assert args[0] == "fewshot" and args[args.index("--class-field") + 1] == "cls"


def test_location_map_extent_and_crs(files):
    alg = _alg("location_map")
    params = {"MODEL": files["model"], "EMBEDDINGS": files["points"], "TARGET": "positive",
              "EXTENT": "-81.1,-80.9,39.9,40.1 [EPSG:4326]", "STEP": 25.0,
              "OUTPUT": str(files["tmp"] / "maps")}
    assert _check(alg, params) == (True, "")
    args = _args(alg, params)
    assert args[0] == "location" and args[args.index("--target") + 1] == "positive"
    bounds = args[args.index("--bounds") + 1:args.index("--bounds") + 5]
    assert bounds == ["-81.100000", "39.900000", "-80.900000", "40.100000"]  # lon/lat order
    assert args[args.index("--crs") + 1] == "EPSG:4326"


def test_embed_locations_grid(files):
    alg = _alg("embed_locations")
    params = {"MODEL": files["model"], "EXTENT": "328000,328400,4421000,4421400 [EPSG:32617]",
              "STEP": 50.0, "DEVICE": 1, "OUTPUT": str(files["tmp"] / "loc.tif")}
    assert _check(alg, params) == (True, "")
    args = _args(alg, params)
    assert args[args.index("--bounds") + 1:args.index("--bounds") + 6] == [
        "328000.000000", "4421000.000000", "328400.000000", "4421400.000000", "--crs"]
    assert args[args.index("--crs") + 1] == "EPSG:32617"
    assert args[args.index("--step") + 1] == "50.0" and "--batch-size" not in args


def test_evaluate_argv(files):
    alg = _alg("evaluate")
    report = str(files["tmp"] / "BENCHMARK.md")
    args = _args(alg, {"QUICK": True, "SEEDS": 2, "STEPS": 0, "OUTPUT": report})
    # the work folder beside the report: never the engine's own install or QGIS's folder
    work = str(files["tmp"] / "BENCHMARK_work")
    assert args == ["--out", report, "--work", work, "--quick", "--seeds", "2"]


def test_evaluate_runs_the_real_quick_benchmark(files, small_city):
    import processing

    report = files["tmp"] / "BENCHMARK.md"
    result = processing.run("geocontrast:evaluate", {
        "CITY": str(small_city), "QUICK": True, "SEEDS": 0, "STEPS": 0, "OUTPUT": str(report)})
    assert result["OUTPUT"] == str(report)
    assert (files["tmp"] / "BENCHMARK_work").is_dir()
    text = report.read_text(encoding="utf-8")
    assert "## Claims" in text and "Visual place recognition" in text


@pytest.mark.parametrize("name", ["embed_points", "embed_raster"])
def test_pretrained_model_or_folder(files, name):
    """A zoo model goes to the engine as `--model zoo:<name>`; the folder stays the way to
    use a trained model; neither or both is refused before the engine starts."""
    alg = _alg(name)
    source = files["points"] if name == "embed_points" else files["raster"]
    base = {"INPUT": source, "OUTPUT": str(files["tmp"] / "out.gpkg")}
    zoo = {**base, "PRETRAINED_MODEL": "efficientnet_lite1"}
    assert _check(alg, zoo) == (True, "")
    args = _args(alg, zoo)
    assert args[args.index("--model") + 1] == "zoo:efficientnet_lite1"
    folder = {**base, "MODEL": files["model"]}
    assert _check(alg, folder) == (True, "")
    args = _args(alg, {**folder, "PRETRAINED_MODEL": "(none: use the model folder)"})
    assert args[args.index("--model") + 1] == files["model"]
    ok, message = _check(alg, base)
    assert not ok and message.startswith("Choose a 'Pretrained model'")
    ok, message = _check(alg, {**zoo, "MODEL": files["model"]})
    assert not ok and "not both" in message and "efficientnet_lite1" in message
    assert not _check(alg, {**base, "PRETRAINED_MODEL": "resnet50"})[0]  # not a choice


def _ogr_layers(path):
    from osgeo import ogr

    ds = ogr.Open(path)
    layers = {ds.GetLayer(i).GetName(): [f.GetField("income") for f in ds.GetLayer(i)]
              for i in range(ds.GetLayerCount())}
    ds = None
    return layers


def test_the_chosen_layer_of_a_multi_layer_geopackage_is_the_one_the_engine_reads(files):
    """Polygons, masks and example points reach the engine as a file holding only the
    chosen features: a layer of a multi-layer GeoPackage (not its first layer), a selection."""
    from qgis.core import QgsProcessingFeatureSourceDefinition

    multi = files["tmp"] / "multi.gpkg"
    decoy = QgsVectorLayer("Polygon?crs=EPSG:32617&field=income:double", "d", "memory")
    f = QgsFeature(decoy.fields())
    f.setAttributes([999.0])
    f.setGeometry(QgsGeometry.fromWkt("POLYGON((0 0, 1 0, 1 1, 0 0))"))
    decoy.dataProvider().addFeatures([f])
    write_gpkg(decoy, multi, "decoy")
    write_gpkg(files["polys"], multi, "tracts")
    alg = _alg("zero_shot_map")
    head = files["tmp"] / "head.safetensors"
    head.write_bytes(b"\0")
    params = {"HEAD": str(head), "FIELD": files["raster"], "NAME": "income",
              "POLYGONS": f"{multi}|layername=tracts", "OUTPUT": str(files["tmp"] / "maps")}
    args = _args(alg, params)
    assert list(_ogr_layers(args[args.index("--polygons") + 1]).values()) == [[5.0]]
    single = files["tmp"] / "tracts.gpkg"  # a file whose one layer is named as the file
    write_gpkg(files["polys"], single, "tracts")
    args = _args(alg, {**params, "POLYGONS": f"{single}|layername=tracts"})
    assert args[args.index("--polygons") + 1] == str(single)  # passed as it is
    layer = QgsVectorLayer(f"{multi}|layername=decoy", "both")
    g = QgsFeature(layer.fields())  # a second polygon in the decoy layer, the one selected
    g.setAttributes([None, 5.0])
    g.setGeometry(next(files["polys"].getFeatures()).geometry())
    assert layer.dataProvider().addFeatures([g])[0]
    QgsProject.instance().addMapLayer(layer)
    layer.selectByExpression("income = 5")
    chosen = QgsProcessingFeatureSourceDefinition(layer.id(), True)
    args = _args(_alg("predict_map"), {**params, "POLYGONS": chosen, "MASK": chosen})
    for flag in ("--polygons", "--mask"):
        assert list(_ogr_layers(args[args.index(flag) + 1]).values()) == [[5.0]]


def test_an_embedding_layer_the_engine_would_not_read_is_refused(files):
    import sqlite3

    gpkg = files["tmp"] / "emb.gpkg"
    write_gpkg(files["points"], gpkg, "embeddings")
    write_gpkg(files["points"], gpkg, "other")
    with sqlite3.connect(gpkg) as con:  # the engine's marker of its embedding layers
        con.execute("CREATE TABLE gc_embedding_meta (id INTEGER PRIMARY KEY, table_name TEXT)")
        con.execute("INSERT INTO gc_embedding_meta (table_name) VALUES ('embeddings')")
    alg = _alg("location_map")
    params = {"MODEL": files["model"], "TARGET": "positive",
              "EXTENT": "-81.1,-80.9,39.9,40.1 [EPSG:4326]", "STEP": 25.0,
              "OUTPUT": str(files["tmp"] / "maps")}
    ok, message = _check(alg, {**params, "EMBEDDINGS": f"{gpkg}|layername=other"})
    assert not ok and "Layer 'other'" in message and "'embeddings'" in message
    assert _check(alg, {**params, "EMBEDDINGS": f"{gpkg}|layername=embeddings"}) == (True, "")


def test_file_parameters_take_what_users_have(geocontrast_provider):
    """An interpreter has no extension on Linux and macOS; recipes are .yaml or .yml."""
    python = _alg("setup_engine").parameterDefinition("PYTHON")
    assert python.checkValueIsAcceptable("/usr/bin/python3")
    assert python.checkValueIsAcceptable("C:/Python311/python.exe")
    config = _alg("pretrain").parameterDefinition("CONFIG")
    assert config.checkValueIsAcceptable("my.yml") and config.checkValueIsAcceptable("my.yaml")


def test_every_dialog_names_its_own_parameters_in_engine_hints(geocontrast_provider):
    """A flag the engine's hint names reads as the dialog's label of that parameter, in any
    algorithm (not only those with their own word list); other words stay."""
    alg = _alg("predict_map")
    assert alg.in_dialog_words("give mask polygons that cover part of the field, or leave "
                               "--mask out") == (
        "give mask polygons that cover part of the field, or leave "
        "'Mask: map only inside these polygons' out")
    fewshot = _alg("fewshot_map")
    block = fewshot.parameterDefinition("BLOCK_SIZE").description()
    assert fewshot.in_dialog_words("pass a smaller --block-size (e.g. 79)") == (
        f"pass a smaller '{block}' (e.g. 79)")
    out = fewshot.parameterDefinition("OUTPUT").description()
    assert fewshot.in_dialog_words("write to another disk with --out") == (
        f"write to another disk with '{out}'")
    assert fewshot.in_dialog_words("--outline stays") == "--outline stays"


def test_engine_command_lines_in_hints_name_the_algorithm(geocontrast_provider):
    """A hint that names an engine command line reads as the algorithm that runs it (its
    flags are not turned into this dialog's labels)."""
    alg = _alg("predict_map")
    fit = f"'{_alg('fit_head').displayName()}'"
    assert alg.in_dialog_words("a head is a pair NAME.safetensors + NAME.json, as `python -m "
                               "engine fit --out NAME` writes it") == (
        f"a head is a pair NAME.safetensors + NAME.json, as {fit} writes it")
    assert alg.in_dialog_words("or fit the head again on these features (python -m engine "
                               "fit)") == f"or fit the head again on these features ({fit})"
    assert alg.in_dialog_words("map this head with `map zero_shot` or `map predict`") == (
        f"map this head with '{_alg('zero_shot_map').displayName()}' or "
        f"'{alg.displayName()}'")
    assert alg.in_dialog_words("train it with `python -m engine.train --config crossview`") \
        == f"train it with '{_alg('pretrain').displayName()}'"
    assert alg.in_dialog_words("list them with `python -m engine recipes`") == (
        "list them with `python -m engine recipes`")  # no algorithm runs it


def test_a_filtered_embeddings_layer_is_refused_not_read_whole(files):
    """The engine reads every feature of the file behind a layer: with a filter set in QGIS,
    a head was fitted on all 480 photos while the analyst saw 240. The dialog refuses it."""
    points = files["points"]
    points.setSubsetString("cls = 'park'")
    assert points.featureCount() == 2
    ok, message = _check(_alg("fit_head"), {"EMBEDDINGS": points, "POINT_TARGET": "positive",
                                            "OUTPUT": str(files["tmp"] / "h")})
    assert not ok and "has a filter (cls = 'park')" in message and "every feature" in message
    points.setSubsetString("")
    assert _check(_alg("fit_head"), {"EMBEDDINGS": points, "POINT_TARGET": "positive",
                                     "OUTPUT": str(files["tmp"] / "h")}) == (True, "")

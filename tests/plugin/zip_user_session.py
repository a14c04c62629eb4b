"""A new user's QGIS session with the plugin installed from its zip (run as a child process).

`python3 zip_user_session.py ZIP WORK REPORT.json [--engine PYTHON]` in a fresh HOME, with no
checkout on sys.path and no GEOCONTRAST_ENGINE_PYTHON. It unpacks the zip into the profile's
plugin folder (what *Install from ZIP* does), registers the provider as QGIS does, then:
without --engine runs `geocontrast:setup_engine` (venv + pip from the local packages); with
--engine stores that interpreter in the Engine settings instead. Then, through
processing.runAndLoadResults (the dialog's path): sample city, a zero-shot map (twice: no
overwrite) and a few-shot map, and writes what the project holds (renderers, groups) to
REPORT.json for tests/plugin/test_zip_install.py to assert.
"""

from __future__ import annotations

import json
import sys
import time
import zipfile
from pathlib import Path

TINY = " ".join(
    [f"model.{enc}.backbone_kw.{k}={v}" for enc in ("image", "overhead")
     for k, v in (("width", 4), ("depth", 2), ("out_dim", 16))]
    + ["model.image.hidden_dim=32", "model.overhead.hidden_dim=32", "model.embedding_dim=16",
       "data.image_size=32", "data.chip_size=32", "train.batch_size=16",
       "train.checkpoint_every=0"])


def log_feedback():
    """A QgsProcessingFeedback keeping the lines the Processing log would show."""
    from qgis.core import QgsProcessingFeedback

    class LogFeedback(QgsProcessingFeedback):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def pushInfo(self, text: str) -> None:
            self.lines.append(text)

    return LogFeedback()


def describe(layer) -> dict:
    """What a user sees of a loaded layer: name, renderer and its key settings."""
    renderer = layer.renderer()
    out = {"name": layer.name(), "source": layer.source(),
           "renderer": renderer.type() if renderer is not None else ""}
    kind = out["renderer"]
    if kind == "singlebandpseudocolor":
        shader = renderer.shader().rasterShaderFunction()
        out.update(band=renderer.band(), min=shader.minimumValue(), max=shader.maximumValue())
    elif kind == "paletted":
        out.update(band=renderer.band(), labels=[c.label for c in renderer.classes()])
    elif kind in ("graduatedSymbol", "categorizedSymbol"):
        out["attribute"] = renderer.classAttribute()
    elif kind == "singleSymbol" and layer.type() == layer.VectorLayer:
        out["fill_style"] = renderer.symbol().symbolLayer(0).properties().get("style", "")
    return out


def project_state(project) -> dict:
    """Top-level groups with their layers in tree order, each layer described."""
    groups = {}
    for child in project.layerTreeRoot().children():
        if hasattr(child, "findLayers"):
            groups[child.name()] = [describe(node.layer()) for node in child.findLayers()]
    return groups


def main(zip_path: str, work: str, report_path: str, engine: str = "") -> None:
    from qgis.core import QgsApplication, QgsProcessingFeedback, QgsProject, QgsSettings

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    work_dir = Path(work)
    report: dict = {"profile": QgsApplication.qgisSettingsDirPath()}
    plugins = Path(QgsApplication.qgisSettingsDirPath()) / "python" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as archive:  # what Plugins > Install from ZIP does
        archive.extractall(plugins)
    sys.path.insert(0, str(plugins))
    sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))
    from processing.core.Processing import Processing

    Processing.initialize()
    import geocontrast

    plugin = geocontrast.classFactory(None)
    plugin.initProcessing()
    import processing
    from geocontrast.engine_runner import run_engine
    from geocontrast.prefill import layer_defaults
    from geocontrast.settings import engine_python

    report["plugin_dir"] = str(Path(geocontrast.__file__).parent)
    report["engine_before"] = engine_python()
    feedback = QgsProcessingFeedback()
    started = time.monotonic()
    if engine:
        QgsSettings().setValue("geocontrast/engine_python", engine)  # Engine settings dialog
    else:
        result = processing.run("geocontrast:setup_engine", {}, feedback=feedback)
        report["setup_message"] = result["MESSAGE"]
    report["setup_seconds"] = round(time.monotonic() - started, 1)
    venv = Path(report["profile"]) / "geocontrast" / "engine-venv"
    report["setup_bytes"] = sum(p.stat().st_size for p in venv.rglob("*")
                                if p.is_file() and not p.is_symlink())
    report["engine_after"] = engine_python()
    report["recipes"] = [r["name"] for r in run_engine("recipes", [])["recipes"]]

    project = QgsProject.instance()
    city = work_dir / "city"
    processing.runAndLoadResults("geocontrast:sample_city", {"OUTPUT": str(city)},
                                 feedback=feedback)
    report["after_city"] = project_state(project)

    tracts = f"{city / 'tracts.gpkg'}|layername=tracts"
    photos = f"{city / 'streetview.gpkg'}|layername=streetview"
    overhead = sorted(str(p) for p in (city / "overhead").glob("*.tif"))
    model = work_dir / "model"
    processing.run("geocontrast:pretrain", {
        "RECIPE": report["recipes"].index("crossview"), "STREETVIEW": photos,
        "OVERHEAD": overhead, "STEPS": 3, "DEVICE": 1, "OVERRIDES": TINY,
        "OUTPUT": str(model)}, feedback=feedback)
    emb = processing.run("geocontrast:embed_points", {
        "MODEL": str(model), "INPUT": photos, "DEVICE": 1,
        "OUTPUT": str(work_dir / "photos.gpkg")}, feedback=feedback)["OUTPUT"]
    field = processing.runAndLoadResults("geocontrast:embed_raster", {
        "MODEL": str(model), "INPUT": overhead[-1], "STRIDE": 16, "DEVICE": 1,
        "OUTPUT": str(work_dir / "field.tif")}, feedback=feedback)["OUTPUT"]
    from qgis.core import QgsRasterLayer

    report["loaded_with_field"] = sorted(  # what the run loaded from the work folder
        Path(lyr.source()).name for lyr in project.mapLayers().values()
        if Path(lyr.source()).parent == work_dir)
    preview = QgsRasterLayer(str(Path(field).with_name("field_pca.tif")), "field_pca")
    image = QgsRasterLayer(overhead[-1], "overhead")
    project.addMapLayers([preview, image])
    zero_alg = QgsApplication.processingRegistry().algorithmById("geocontrast:zero_shot_map")
    layers = [preview, image, *project.mapLayers().values()]  # the preview is the active one
    chosen = layer_defaults(zero_alg, layers).get("FIELD")
    report["prefill_field"] = project.mapLayer(chosen).source() if chosen else ""
    fit_alg = QgsApplication.processingRegistry().algorithmById("geocontrast:fit_head")
    from qgis.core import QgsProcessingContext

    defaults = {"EMBEDDINGS": emb, "POLYGONS": tracts, "TARGET": "income",
                "OUTPUT": str(work_dir / "income.safetensors")}  # the dialog's own defaults
    report["fold_check_defaults"] = list(fit_alg.checkParameterValues(
        defaults, QgsProcessingContext()))  # no block size: the engine derives it
    report["fold_check"] = list(fit_alg.checkParameterValues(
        {**defaults, "BLOCK_SIZE": 1000}, QgsProcessingContext()))  # a block the user typed
    report["fold_check_fewer"] = list(fit_alg.checkParameterValues(
        {**defaults, "BLOCK_SIZE": 200}, QgsProcessingContext()))  # fewer blocks than folds
    head = processing.run("geocontrast:fit_head", {
        "EMBEDDINGS": emb, "POLYGONS": tracts, "TARGET": "income", "BLOCK_SIZE": 150,
        "FOLDS": 3, "OUTPUT": str(work_dir / "income.safetensors")},
        feedback=feedback)["OUTPUT"]
    maps = work_dir / "maps"
    runs = []
    for _ in range(2):  # the same name twice: the second run must not overwrite the first
        runs.append(processing.runAndLoadResults("geocontrast:zero_shot_map", {
            "HEAD": head, "FIELD": field, "POLYGONS": tracts, "OUTPUT": str(maps)},
            feedback=feedback))
    report["zero_shot_geotiffs"] = [r["GEOTIFF"] for r in runs]
    report["zero_shot_reliable"] = [r["RELIABLE"] for r in runs]  # the engine's validity check
    labelled = processing.run("native:fieldcalculator", {
        "INPUT": photos, "FIELD_NAME": "cls", "FIELD_TYPE": 2, "FIELD_LENGTH": 10,
        "FORMULA": "if(\"perception_safety\" > median(\"perception_safety\"), 'safer', 'less')",
        "OUTPUT": str(work_dir / "labelled.gpkg")})["OUTPUT"]
    log = log_feedback()
    few = processing.runAndLoadResults("geocontrast:fewshot_map", {
        "FIELD": field, "POINTS": labelled, "CLASS_FIELD": "cls", "BLOCK_SIZE": 150,
        "OUTPUT": str(work_dir / "few")}, feedback=log)
    report["fewshot_outputs"] = sorted(few)  # the results dict the dialog prints
    report["summary"] = next(m for m in log.lines if m.startswith("Few-shot class map: done"))
    classes = next(line for line in report["summary"].splitlines() if "classes: " in line)
    report["fewshot_classes"] = classes.split("classes: ", 1)[1].split(", ")
    report["project"] = project_state(project)
    report["plugins_folder"] = sorted(p.name for p in plugins.iterdir())
    report["files"] = sorted(str(p.relative_to(work_dir)) for p in work_dir.rglob("*")
                             if p.is_file())
    Path(report_path).write_text(json.dumps(report, indent=2), encoding="utf-8")
    project.removeAllMapLayers()  # QGIS crashes at exit with layers left
    app.exitQgis()


if __name__ == "__main__":
    args = sys.argv[1:]
    engine_arg = ""
    if "--engine" in args:
        i = args.index("--engine")
        engine_arg = args[i + 1]
        del args[i:i + 2]
    main(*args, engine=engine_arg)

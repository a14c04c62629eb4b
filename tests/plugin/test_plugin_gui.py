"""classFactory + initGui add the toolbar, actions and provider; unload removes them all."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QToolBar


def _flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    QCoreApplication.processEvents()


def test_init_gui_and_unload(qgis_iface, qgis_processing, monkeypatch):
    import qgis_plugin

    removed_menus = []
    monkeypatch.setattr(qgis_iface, "removePluginMenu",
                        lambda menu, action: removed_menus.append(action.objectName()),
                        raising=False)
    monkeypatch.setattr(qgis_iface, "removeDockWidget", lambda dock: None, raising=False)
    registry = QgsApplication.processingRegistry()
    assert registry.providerById("geocontrast") is None

    plugin = qgis_plugin.classFactory(qgis_iface)
    plugin.initGui()
    toolbar = plugin.toolbar
    assert isinstance(toolbar, QToolBar)
    assert toolbar.objectName() == "GeoContrastToolbar"
    names = [a.objectName() for a in toolbar.actions()]
    assert names == ["geocontrast_sample_city", "geocontrast_import_photos",
                     "geocontrast_validate_layer", "geocontrast_demo", "geocontrast_pretrain",
                     "geocontrast_embed_points", "geocontrast_embed_raster",
                     "geocontrast_zero_shot_map", "geocontrast_similarity", "geocontrast_setup",
                     "geocontrast_settings"]
    assert all(not a.icon().isNull() for a in toolbar.actions())
    from qgis_plugin.icon import icon_path

    icons = [icon_path(n.removeprefix("geocontrast_")) for n in names]
    assert len({p.read_bytes() for p in icons}) == len(names)  # one distinct SVG per action
    assert registry.providerById("geocontrast") is not None
    actions = list(plugin.actions)
    dock = plugin.show_similarity_dock()
    assert plugin.show_similarity_dock() is dock  # created once

    plugin.unload()
    _flush_deletes()
    assert sorted(removed_menus) == sorted(names)
    assert registry.providerById("geocontrast") is None
    assert sip.isdeleted(toolbar)
    assert all(sip.isdeleted(a) for a in actions)
    assert sip.isdeleted(dock) and plugin.dock is None
    assert plugin.toolbar is None and plugin.actions == [] and plugin.provider is None
    assert not [t for t in qgis_iface.mainWindow().findChildren(QToolBar)
                if not sip.isdeleted(t) and t.objectName() == "GeoContrastToolbar"]


def test_init_processing_alone_registers_provider_once(qgis_processing):
    from qgis_plugin.plugin import GeoContrastPlugin

    plugin = GeoContrastPlugin(iface=None)
    plugin.initProcessing()
    plugin.initProcessing()
    registry = QgsApplication.processingRegistry()
    assert [p.id() for p in registry.providers()].count("geocontrast") == 1
    plugin.provider, provider = None, plugin.provider
    registry.removeProvider(provider)
    assert registry.providerById("geocontrast") is None


def test_actions_open_their_algorithm_dialogs(qgis_iface, qgis_processing, monkeypatch):
    import processing

    import qgis_plugin

    opened = []
    monkeypatch.setattr(processing, "execAlgorithmDialog", lambda alg_id, *a: opened.append(alg_id))
    monkeypatch.setattr(qgis_iface, "removePluginMenu", lambda *a: None, raising=False)
    plugin = qgis_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        by_name = {a.objectName(): a for a in plugin.actions}
        for name in ("sample_city", "import_photos", "validate_layer", "demo"):
            by_name[f"geocontrast_{name}"].trigger()
        assert opened == ["geocontrast:sample_city", "geocontrast:import_photos",
                          "geocontrast:validate_layer", "geocontrast:demo"]
        registry = QgsApplication.processingRegistry()
        assert all(registry.algorithmById(alg_id) is not None for alg_id in opened)
    finally:
        plugin.unload()


def test_common_step_actions_prefill_the_working_layers(qgis_iface, qgis_processing, small_city,
                                                       monkeypatch):
    import processing
    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

    import qgis_plugin

    photos = QgsVectorLayer(f"{small_city / 'streetview.gpkg'}|layername=streetview", "photos",
                            "ogr")
    overhead = QgsRasterLayer(str(small_city / "overhead" / "overhead_2023-07-12.tif"), "overhead")
    tracts = QgsVectorLayer(f"{small_city / 'tracts.gpkg'}|layername=tracts", "tracts", "ogr")
    assert photos.isValid() and overhead.isValid() and tracts.isValid()
    QgsProject.instance().addMapLayers([tracts, overhead, photos])
    opened = []
    monkeypatch.setattr(processing, "execAlgorithmDialog",
                        lambda alg_id, params=None: opened.append((alg_id, params)))
    monkeypatch.setattr(qgis_iface, "removePluginMenu", lambda *a: None, raising=False)
    monkeypatch.setattr(qgis_iface, "activeLayer", lambda: photos, raising=False)
    plugin = qgis_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        by_name = {a.objectName(): a for a in plugin.actions}
        by_name["geocontrast_embed_points"].trigger()
        by_name["geocontrast_embed_raster"].trigger()
        points_params, raster_params = opened[0][1], opened[1][1]
        assert opened[0][0] == "geocontrast:embed_points"
        assert points_params["INPUT"] == photos.id()  # the point layer, never the polygons
        assert overhead.id() in raster_params.values()
        assert tracts.id() not in (*points_params.values(), *raster_params.values())
    finally:
        plugin.unload()
        QgsProject.instance().removeAllMapLayers()

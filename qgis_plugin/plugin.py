"""The plugin object QGIS loads: a "GeoContrast" toolbar and the `geocontrast` provider."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QAction, QToolBar

from .icon import icon_for
from .prefill import layer_defaults
from .processing.provider import GeoContrastProvider

MENU = "&GeoContrast"
TOOLBAR_NAME = "GeoContrastToolbar"

# (object name, label, algorithm id opened in a Processing dialog)
_ALGORITHM_ACTIONS = (
    ("geocontrast_sample_city", "Generate sample city…", "geocontrast:sample_city"),
    ("geocontrast_import_photos", "Import photos…", "geocontrast:import_photos"),
    ("geocontrast_validate_layer", "Validate street-view layer…", "geocontrast:validate_layer"),
    ("geocontrast_demo", "Run the demo (sample city to maps)…", "geocontrast:demo"),
    ("geocontrast_pretrain", "Pretrain encoder…", "geocontrast:pretrain"),
    ("geocontrast_embed_points", "Embed street-view photos…", "geocontrast:embed_points"),
    ("geocontrast_embed_raster", "Embed overhead raster…", "geocontrast:embed_raster"),
    ("geocontrast_zero_shot_map", "Zero-shot map…", "geocontrast:zero_shot_map"),
)


class GeoContrastPlugin:
    """Adds the toolbar, the menu entries and the Processing provider; removes them on unload."""

    def __init__(self, iface: Any) -> None:
        self.iface = iface
        self.toolbar: QToolBar | None = None
        self.actions: list[QAction] = []
        self.provider: GeoContrastProvider | None = None
        self.dock: Any = None

    def initProcessing(self) -> None:
        """Register the `geocontrast` provider (also called by qgis_process without a GUI)."""
        if self.provider is None:
            self.provider = GeoContrastProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        """Create the toolbar and actions, and register the provider."""
        self.initProcessing()
        self.toolbar = self.iface.addToolBar("GeoContrast")
        self.toolbar.setObjectName(TOOLBAR_NAME)
        self.toolbar.setToolTip("GeoContrast")
        for object_name, label, algorithm_id in _ALGORITHM_ACTIONS:
            self._add_action(object_name, label, self._algorithm_opener(algorithm_id))
        self._add_action("geocontrast_similarity", "Similarity search by click",
                         self.show_similarity_dock)
        self._add_action("geocontrast_setup", "Set up engine…", self.show_setup)
        self._add_action("geocontrast_settings", "Engine settings…", self.show_settings)

    def _add_action(self, object_name: str, label: str, slot: Any) -> QAction:
        key = object_name.removeprefix("geocontrast_")
        action = QAction(icon_for(key), label, self.iface.mainWindow())
        action.setObjectName(object_name)
        action.triggered.connect(slot)
        self.toolbar.addAction(action)
        self.iface.addPluginToMenu(MENU, action)
        self.actions.append(action)
        return action

    def _algorithm_opener(self, algorithm_id: str) -> Any:
        def open_dialog() -> None:
            import processing  # QGIS's Processing plugin, present whenever the GUI is

            algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
            layers = [self.iface.activeLayer(), *QgsProject.instance().mapLayers().values()]
            processing.execAlgorithmDialog(algorithm_id, layer_defaults(algorithm, layers))

        return open_dialog

    def show_similarity_dock(self) -> Any:
        """Show (creating once) the dock that maps similarity to places clicked on the map."""
        if self.dock is None:
            from .similarity_dock import SimilarityDock

            self.dock = SimilarityDock(self.iface, self.iface.mainWindow())
            self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.show()
        self.dock.raise_()
        return self.dock

    def show_setup(self) -> Any:
        """Open the engine set-up dialog (venv + pip install of the engine the zip ships)."""
        from .setup_dialog import SetupDialog

        self.setup_dialog = SetupDialog(self.iface.mainWindow())
        self.setup_dialog.show()
        return self.setup_dialog

    def show_settings(self) -> None:
        """Open the engine settings dialog (interpreter path + a check)."""
        from .settings_dialog import SettingsDialog

        SettingsDialog(self.iface.mainWindow()).exec_()

    def unload(self) -> None:
        """Remove everything initGui added: actions, menu entries, toolbar, dock, provider."""
        for action in self.actions:
            self.iface.removePluginMenu(MENU, action)
            if self.toolbar is not None:
                self.toolbar.removeAction(action)
            action.deleteLater()
        self.actions = []
        if self.toolbar is not None:
            self.iface.mainWindow().removeToolBar(self.toolbar)
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.dock is not None:
            self.dock.close()  # also gives the map tool back
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

"""A zero-shot map whose truth-free validity check failed reaches QGIS flagged: the layer
names say UNRELIABLE and the Processing log reports an error (not only a warning)."""

from __future__ import annotations

from conftest import RecordingFeedback, tiny_geotiff
from qgis.core import QgsApplication, QgsProcessingContext


class ErrorsToo(RecordingFeedback):
    def reportError(self, text: str, fatalError: bool = False) -> None:
        self.messages.append("error: " + text)


def _result(tif: str, reliable: bool | None) -> dict:
    check = {"passed": reliable, "r": -0.44 if reliable is False else 0.7, "r2": -1.2, "n": 9,
             "places": "polygons", "min_r": 0.3, "note": "" if reliable is not None else "n/a"}
    return {"kind": "zero_shot", "target": "income", "geotiff": tif, "gpkg": "",
            "validity": check, "reliable": reliable}


def test_unreliable_map_is_flagged_in_qgis(tmp_path, geocontrast_provider, clean_project):
    tif = str(tiny_geotiff(tmp_path / "m.tif", bands=2))
    alg = QgsApplication.processingRegistry().algorithmById("geocontrast:zero_shot_map")
    for reliable, expect_name, expect_msg in ((False, "UNRELIABLE income", "error: UNRELIABLE"),
                                              (True, "income", "validity check passed"),
                                              (None, "income", "warning: map not checked")):
        context, feedback = QgsProcessingContext(), ErrorsToo()
        out = alg.collect_outputs(_result(tif, reliable), {}, context, feedback)
        assert out["RELIABLE"] is reliable
        names = [d.name for d in context.layersToLoadOnCompletion().values()]
        assert names == [expect_name], names
        assert any(m.startswith(expect_msg) for m in feedback.messages), feedback.messages

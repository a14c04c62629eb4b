"""A pretrained zoo model through Processing, for real: `geocontrast:embed_points` with
'Pretrained model' efficientnet_lite0 on a few photos of the small sample city."""

from __future__ import annotations

from conftest import RecordingFeedback, write_gpkg
from qgis.core import (
    QgsFeature,
    QgsFeatureRequest,
    QgsProcessingContext,
    QgsProject,
    QgsVectorLayer,
)

N_PHOTOS = 3


def few_photos(city, tmp_path) -> str:
    """The first N_PHOTOS points of the city's street-view layer, image paths made absolute,
    as a GeoPackage of their own."""
    source = QgsVectorLayer(f"{city / 'streetview.gpkg'}|layername=streetview", "sv", "ogr")
    assert source.isValid()
    layer = QgsVectorLayer(f"Point?crs={source.crs().authid()}", "few", "memory")
    layer.dataProvider().addAttributes(source.fields().toList()[1:])  # not the fid
    layer.updateFields()
    features = []
    for feature in source.getFeatures(QgsFeatureRequest().setLimit(N_PHOTOS)):
        copy = QgsFeature(layer.fields())
        copy.setGeometry(feature.geometry())
        for name in layer.fields().names():
            copy[name] = feature[name]
        copy["image"] = str(city / feature["image"])
        features.append(copy)
    layer.dataProvider().addFeatures(features)
    return write_gpkg(layer, tmp_path / "few.gpkg", "streetview")


def test_embed_points_with_a_pretrained_model(geocontrast_provider, small_city, tmp_path,
                                              clean_project):
    import processing

    context, feedback = QgsProcessingContext(), RecordingFeedback()
    context.setProject(QgsProject.instance())
    result = processing.run("geocontrast:embed_points", {
        "PRETRAINED_MODEL": "efficientnet_lite0", "INPUT": few_photos(small_city, tmp_path),
        "DEVICE": 1, "BATCH_SIZE": 8, "OUTPUT": str(tmp_path / "emb.gpkg")},
        context=context, feedback=feedback)

    layer = QgsVectorLayer(result["OUTPUT"], "emb", "ogr")
    assert layer.isValid() and layer.featureCount() == N_PHOTOS
    assert result["OUTPUT"].endswith("|layername=embeddings")
    meta = QgsVectorLayer(f"{tmp_path / 'emb.gpkg'}|layername=gc_embedding_meta", "m", "ogr")
    assert meta.isValid()
    (row,) = [f for f in meta.getFeatures() if f["table_name"] == "embeddings"]
    assert (row["model"], row["dimension"], row["dtype"]) == (
        "zoo:efficientnet_lite0", 1280, "float32")
    blobs = [f["embedding"] for f in layer.getFeatures()]
    assert [len(b) for b in blobs] == [4 * 1280] * N_PHOTOS  # float32 vectors, one per photo
    assert len(set(bytes(b) for b in blobs)) == N_PHOTOS  # distinct photos, distinct vectors
    log = "\n".join(feedback.messages)
    assert "embeds photos at 224 px, its native (ImageNet training) input size" in log

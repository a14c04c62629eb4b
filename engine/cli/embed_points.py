"""`python -m engine embed-points`: one embedding per street-view photo -> OUT.gpkg + OUT.faiss."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.args import MAX_BATCH, MAX_IMAGE_PX, MAX_WORKERS, int_in
from engine.progress import Progress

NAME = "embed-points"
HELP = "embed every photo of a street-view layer (GeoPackage with vectors + faiss index)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True,
                        help="model folder (models/<name> with config.yaml + model.safetensors) "
                        "or a zoo name (zoo:efficientnet_lite0, _lite1, _lite2)")
    parser.add_argument("--layer", type=Path, required=True,
                        help="street-view point layer (.gpkg/.geojson/.shp/.csv or photo folder)")
    parser.add_argument("--layer-name", default=None,
                        help="layer inside a multi-layer file (default: 'streetview' or the only)")
    parser.add_argument("--out", type=Path, required=True, help="output GeoPackage OUT.gpkg")
    parser.add_argument("--batch-size", type=int_in(1, MAX_BATCH), default=64)
    parser.add_argument("--image-size", type=int_in(8, MAX_IMAGE_PX), default=None,
                        help="photo size in px (default: the model's training size, else 128)")
    parser.add_argument("--workers", type=int_in(0, MAX_WORKERS), default=2,
                        help="photo-decoding processes (0: in the main process)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an 'embeddings' layer of OUT.gpkg that another command "
                        "(or program) wrote")


def run(args: argparse.Namespace, progress: Progress) -> dict:
    from engine.data.points import read_streetview
    from engine.embed.index import index_path
    from engine.embed.points import COMMAND, LAYER, embed_points
    from engine.export.guard import prepare_output
    from engine.models.folder import ModelFolder

    prepare_output(args.out, [args.layer, args.model], [index_path(args.out)],
                   suffixes=(".gpkg",), layer=LAYER, command=COMMAND, overwrite=args.overwrite)
    folder = ModelFolder.open(args.model)
    model = folder.load()
    size = args.image_size
    if size is None:
        size = int(folder.input_sizes().get("image_size", 128))
    layer = read_streetview(args.layer, args.layer_name)
    return embed_points(model, layer, args.out, batch_size=args.batch_size, image_size=size,
                        progress=progress, num_workers=args.workers, device=args.device,
                        model_name=folder.name, overwrite=args.overwrite)

"""Street-view photos -> one embedding per point: a GeoPackage layer + a faiss index.

Output `OUT.gpkg`, layer "embeddings": the point geometry in the layer's CRS, the ids
(`photo_id` when present, `location_id`, `source_fid`), the layer's other fields (`image` as an
absolute path, `captured_at` as ISO 8601 UTC text), and the vector in the BLOB column
`embedding` (little-endian float32, see engine.export.embeddings_gpkg, with the model,
dimension and dtype in `gc_embedding_meta`). `OUT.faiss` (engine.embed.index) holds the same
vectors in the same (fid) order. Photos that cannot be read are skipped: logged with their
file, counted in the result, and absent from both outputs. Under torchrun each rank embeds a
contiguous range of rows and rank 0 writes both outputs (engine.embed.shard).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.data.points import StreetViewLayer
from engine.data.views import view_array
from engine.defaults import DEVICE, EMBED_BATCH, EMBED_WORKERS, IMAGE_PX, RUNTIME
from engine.embed import accel, shard
from engine.embed.index import index_path, write_index
from engine.errors import EngineError
from engine.models.device import resolve_device
from engine.models.inputs import to_model_input
from engine.models.photo_input import DEFAULT_RESIZE, check_resize, read_photo
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

LAYER = "embeddings"
COLUMN = "embedding"
COMMAND = "embed-points"


class PhotoDataset:
    """Index -> (index, uint8 (3,S,S) tensor or None, error text or None); decoding in workers.

    Photos are read as training reads them (engine.models.photo_input: the model's resize
    policy; rows with a finite view yaw are views cut from their panorama)."""

    def __init__(self, paths: list[str], size: int, resize: str = DEFAULT_RESIZE,
                 views: np.ndarray | None = None) -> None:
        self.paths, self.size, self.resize, self.views = paths, size, resize, views

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, Any, str | None]:
        import torch

        view = None if self.views is None else tuple(self.views[i])
        try:
            img = read_photo(self.paths[i], self.size, self.resize, view)
        except EngineError as exc:
            return i, None, exc.message
        except Exception as exc:
            return i, None, f"photo {self.paths[i]} cannot be read ({exc})"
        return i, torch.from_numpy(img).permute(2, 0, 1).contiguous(), None


def collate_photos(items: list[tuple[int, Any, str | None]]) -> dict[str, Any]:
    """Stack the readable photos of a batch; keep the indices and errors of the others."""
    import torch

    good = [(i, t) for i, t, _ in items if t is not None]
    return {
        "index": [i for i, _ in good],
        "images": torch.stack([t for _, t in good]) if good else None,
        "errors": [(i, e) for i, t, e in items if t is None],
    }


def embed_images(model: Any, paths: list[str], batch_size: int = EMBED_BATCH,
                 image_size: int = IMAGE_PX,
                 num_workers: int = EMBED_WORKERS, device: str = DEVICE,
                 progress: Progress = no_progress,
                 runtime: str = RUNTIME, *, resize: str = DEFAULT_RESIZE,
                 views: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """(ok row numbers (M,), embeddings (M,D) float32, [(row, error)]) for photo `paths`;
    `resize` is the model's policy, `views` (N,2) yaw/fov per row for panorama views."""
    import torch
    from torch.utils.data import DataLoader

    if batch_size < 1 or image_size < 8:
        raise EngineError(f"batch size {batch_size} / image size {image_size} px is too small",
                          "use e.g. --batch-size 64 --image-size 128")
    dev = resolve_device(device)
    model.eval().to(dev)
    encode = accel.encoder_fn(model, "embed_image", dev, runtime, n_items=len(paths))
    loader = DataLoader(PhotoDataset(paths, image_size, check_resize(resize), views),
                        batch_size=batch_size,
                        num_workers=num_workers, collate_fn=collate_photos,
                        pin_memory=dev.type == "cuda",
                        persistent_workers=False)
    # the runtime's import / export / compile overlaps the first photos' decoding
    accel.prepare(encode, (min(batch_size, max(len(paths), 1)), 3, image_size, image_size))
    rows: list[int] = []
    chunks: list[np.ndarray] = []
    errors: list[tuple[int, str]] = []
    done = 0
    with torch.inference_mode():
        for batch in loader:
            for _, err in batch["errors"]:
                log.warning("skipping a photo: %s", err)  # the error names its file
            errors += batch["errors"]
            if batch["images"] is not None:
                emb = encode(to_model_input(batch["images"], dev))
                chunks.append(emb.float().cpu().numpy())
                rows += batch["index"]
            done += len(batch["index"]) + len(batch["errors"])
            progress(done, len(paths), "embed-points")
    dim = int(model.embedding_dim)
    emb = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return np.asarray(rows, dtype=np.int64), emb.astype(np.float32), errors


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def gpkg_frame(frame: Any) -> Any:
    """The layer's frame with types a GeoPackage stores: times as ISO text, objects as text."""
    out = frame.copy()
    if "captured_at" in out.columns and isinstance(out["captured_at"].dtype, pd.DatetimeTZDtype):
        t = out["captured_at"]
        out["captured_at"] = t.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(t.notna(), None)
    geometry = out.geometry.name
    for col in out.columns:
        if col == geometry:
            continue
        values = out[col]
        if values.dtype == np.dtype("bool"):
            out[col] = values.astype("int32")
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            out[col] = values.map(lambda v: None if pd.isna(v) else v.isoformat())
        elif values.dtype == object:
            out[col] = values.astype("int64") if bool(values.map(_is_int).all()) else values.map(
                lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return out


def embed_points(model: Any, layer: StreetViewLayer, out_gpkg: str | os.PathLike[str],
                 batch_size: int = EMBED_BATCH, image_size: int = IMAGE_PX,
                 progress: Progress = no_progress, *, num_workers: int = EMBED_WORKERS,
                 device: str = DEVICE, model_name: str = "", model_id: str = "",
                 runtime: str = RUNTIME, resize: str = DEFAULT_RESIZE,
                 overwrite: bool = False) -> dict[str, Any]:
    """Embed every photo of `layer` with model.embed_image; write OUT.gpkg + OUT.faiss.
    Rows that are panorama views (engine.data.views) embed their view.

    Both files are committed together (engine.export.atomic); an existing OUT.gpkg keeps its
    other layers, and its "embeddings" layer is replaced only when embed-points wrote it
    (or with `overwrite`).

    Returns {"output", "index", "layer", "photos", "embedded", "skipped", "skipped_rows",
    "dimension"}; skipped_rows are the `source_fid`s of photos that could not be read.
    """
    from engine.export.atomic import atomic_outputs
    from engine.export.embeddings_gpkg import write_embeddings_gpkg
    from engine.export.guard import COMMAND_KEY, check_layer

    out_gpkg = Path(out_gpkg)
    if out_gpkg.suffix.lower() != ".gpkg":
        raise EngineError(f"output {out_gpkg} is not a .gpkg file",
                          "give an output path ending in .gpkg")
    frame = layer.frame
    paths = [str(p) for p in frame["image"]]
    views = view_array(frame)
    with shard.session(resolve_device(device)) as place, shard.Parts(out_gpkg, place) as parts:
        start, stop = shard.row_range(len(paths), max(1, batch_size), place)
        rows, emb, errors = shard.agree(lambda: embed_images(
            model, paths[start:stop], batch_size, image_size, num_workers,
            place.device.type, progress, runtime, resize=resize,
            views=None if views is None else views[start:stop]), place)
        rows, errors = rows + start, [(i + start, e) for i, e in errors]
        if not place.is_main:  # rank 0 assembles every rank's rows (engine.embed.shard)
            shard.agree(lambda: shard.save_rows(parts, rows, emb, errors), place)
            return {"rank": place.rank, "world": place.world, "embedded": int(len(rows))}
        shard.agree(lambda: None, place)  # every part is on disk
        if place.distributed:
            rows, emb, errors = shard.gather_rows(parts, rows, emb, errors)
    if len(rows) == 0:
        raise EngineError(f"none of the {len(paths)} photos of {layer.source} could be read",
                          "check the photo files (the log names each one)")
    skipped_fids = [frame["source_fid"].iloc[i] for i, _ in errors]
    if errors:  # named by the feature id QGIS shows, as skipped_rows are
        log.warning("%d of %d photos could not be read and were skipped (fid %s)",
                    len(errors), len(paths), ", ".join(map(str, skipped_fids[:20]))
                    + (", ..." if len(errors) > 20 else ""))
    kept = gpkg_frame(frame.iloc[np.sort(rows)])
    emb = emb[np.argsort(rows, kind="stable")]
    extra = {"encoder": "image", "image_size": int(image_size), "resize": resize,
             "source": str(layer.source),
             "skipped": len(errors), "index": index_path(out_gpkg).name,
             "index_rows": "faiss row k = k-th feature in fid order"}
    faiss_path = index_path(out_gpkg)
    with atomic_outputs(out_gpkg, faiss_path, hold_lock=True) as outs:
        check_layer(out_gpkg, LAYER, COMMAND, overwrite)
        write_embeddings_gpkg(kept, emb, out_gpkg, layer=LAYER, column=COLUMN,
                              model=model_name, extra=extra, metadata={COMMAND_KEY: COMMAND},
                              into=outs.path(out_gpkg), model_id=model_id)
        write_index(emb, outs.path(faiss_path))
    return {
        "output": str(out_gpkg), "index": str(faiss_path), "layer": LAYER,
        "photos": len(paths), "embedded": int(len(rows)), "skipped": len(errors),
        "skipped_rows": [int(v) if isinstance(v, (int, np.integer)) else str(v)
                         for v in skipped_fids],
        "dimension": int(emb.shape[1]), "image_size": int(image_size), "ranks": place.world,
    }


def read_point_embeddings(gpkg: str | os.PathLike[str],
                          layer: str = LAYER) -> tuple[Any, np.ndarray]:
    """(GeoDataFrame in fid order without the BLOB, embeddings (N,D) float32) of OUT.gpkg."""
    from engine.export.embeddings_gpkg import read_embeddings_gpkg

    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise EngineError(f"point embeddings {gpkg} do not exist",
                          "run embed-points first (python -m engine embed-points ...)")
    frame, emb, _meta = read_embeddings_gpkg(gpkg, layer=layer, column=COLUMN)
    return frame, emb

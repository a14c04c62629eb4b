"""On CUDA every batch of a job runs at one shape (engine.embed.batch_shape): partial batches
are padded, and the rows that come back are the unpadded batch's."""

from __future__ import annotations

import torch
from test_embed_support import tiny_model

from engine.embed import accel
from engine.embed.batch_shape import OneShape


def test_partial_batches_run_padded_to_one_shape_with_the_same_rows() -> None:
    model = tiny_model().eval()
    shapes: list[int] = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        shapes.append(int(x.shape[0]))
        return model.embed_overhead(x)

    wrapped = OneShape(forward)
    torch.manual_seed(1)
    batches = [torch.rand(n, 3, 32, 32) for n in (8, 3, 8, 5, 1)]
    with torch.inference_mode():
        got = [wrapped(b) for b in batches]
        want = [model.embed_overhead(b) for b in batches]
    assert shapes == [8, 8, 8, 8, 8]
    for g, w, b in zip(got, want, batches, strict=True):
        assert g.shape == (len(b), model.embedding_dim)
        torch.testing.assert_close(g, w, rtol=0, atol=1e-5)


def test_the_torch_encoder_is_padded_on_cuda_only() -> None:
    model = tiny_model().eval()
    on_cuda = accel.encoder_fn(model, "embed_overhead", torch.device("cuda"), "torch")
    on_cpu = accel.encoder_fn(model, "embed_overhead", torch.device("cpu"), "torch")
    assert isinstance(on_cuda, OneShape) and on_cuda.fn == model.embed_overhead
    assert on_cpu == model.embed_overhead

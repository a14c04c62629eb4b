"""Seeded random streams, one per purpose, so adding draws in one place never shifts another."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """A PCG64 generator for (seed, purpose, *keys); the same arguments give the same draws."""
    entropy = [int(seed) & 0xFFFFFFFF, zlib.crc32(purpose.encode()), *(int(k) for k in keys)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def hash01(*arrays: np.ndarray) -> np.ndarray:
    """A fast deterministic hash of integer arrays to floats in [0, 1) (texture noise)."""
    h = np.uint32(2166136261)
    out = np.full(np.broadcast(*arrays).shape, h, dtype=np.uint32)
    for a in arrays:
        out ^= np.asarray(a).astype(np.int64).astype(np.uint32)
        out *= np.uint32(16777619)
        out ^= out >> np.uint32(13)
        out *= np.uint32(0x5BD1E995)
        out ^= out >> np.uint32(15)
    return out.astype(np.float64) / 4294967296.0

"""Capture time -> embedding from cyclic features, with drop-out of the whole time embedding.

`time_features(datetimes)` gives (N, 4) float32: [sin, cos] of the day of year and [sin, cos] of
the UTC hour of day; with `reference_year` a 5th column, the year offset (years since it, as a
float), is appended. Missing times (NaT) give zero rows; `time_valid(datetimes)` says which rows
are real, so missing dates are reported as missing, never invented. Hours are UTC: within one
study area the offset to local (solar) time is a constant the encoder absorbs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from engine.errors import EngineError

TIME_FEATURES = 4  # width of time_features() without a reference year


def _as_utc(datetimes: Any) -> pd.DatetimeIndex:
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(datetimes).ravel(), utc=True))
    except (ValueError, TypeError) as exc:
        raise EngineError(
            f"cannot read capture times: {exc}",
            hint="give ISO 8601 UTC text such as 2024-05-03T14:20:00Z, or datetime64 values",
        ) from exc
    return idx


def time_valid(datetimes: Any) -> np.ndarray:
    """(N,) bool: True where the capture time is known (not NaT)."""
    return ~np.asarray(_as_utc(datetimes).isna())


def time_features(datetimes: Any, reference_year: int | None = None) -> np.ndarray:
    """(N, 4) float32 cyclic time features (N, 5 with a year offset); NaT rows are zeros."""
    idx = _as_utc(datetimes)
    valid = ~np.asarray(idx.isna())
    days_in_year = np.where(np.asarray(idx.is_leap_year), 366.0, 365.0)
    doy = (np.asarray(idx.day_of_year, dtype=np.float64) - 1.0) / days_in_year
    hour = (np.asarray(idx.hour, dtype=np.float64) + np.asarray(idx.minute) / 60.0
            + np.asarray(idx.second) / 3600.0) / 24.0
    cols = [np.sin(2 * math.pi * doy), np.cos(2 * math.pi * doy),
            np.sin(2 * math.pi * hour), np.cos(2 * math.pi * hour)]
    if reference_year is not None:
        cols.append(np.asarray(idx.year, dtype=np.float64) + doy - float(reference_year))
    feats = np.stack(cols, axis=1)
    feats[~valid] = 0.0
    return np.nan_to_num(feats).astype(np.float32)


class TimeEncoder(nn.Module):
    """MLP on time features -> (B, out_dim); rows with invalid or dropped times give zeros.

    In training each row's whole embedding is dropped with probability `drop_p`, so a model
    conditioned on time still works for photos without a date.
    """

    def __init__(
        self, out_dim: int, in_dim: int = TIME_FEATURES, hidden_dim: int = 64, drop_p: float = 0.1
    ) -> None:
        super().__init__()
        if not 0.0 <= drop_p < 1.0:
            raise EngineError(f"time drop_p must be in [0, 1), got {drop_p}",
                              hint="e.g. 0.1 drops the time of one photo in ten in training")
        self.in_dim, self.out_dim, self.drop_p = in_dim, out_dim, drop_p
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, feats: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        if feats.ndim != 2 or feats.shape[1] != self.in_dim:
            raise EngineError(
                f"time features must be (B, {self.in_dim}), got {tuple(feats.shape)}",
                hint="build them with engine.nn.time_encoder.time_features()",
            )
        emb = self.net(feats)
        keep = torch.ones(feats.shape[0], dtype=torch.bool, device=feats.device)
        if valid is not None:
            keep = keep & valid.to(device=feats.device, dtype=torch.bool)
        if self.training and self.drop_p > 0:
            keep = keep & (torch.rand(feats.shape[0], device=feats.device) >= self.drop_p)
        return emb * keep[:, None].to(emb.dtype)

"""One static code distribution per residual stage (``stages``), for audio code maps.

A residual quantizer's stages have different statistics: the first stage's codes carry the
coarse shape of the signal and are far from uniform, the last ones code small residuals. An
audio map holds stage ``s`` in row ``s`` (``(stages kept, frames)``), so the table of a
position is the one of its row's stage: counts of that stage's codes over a training set.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import read_json
from ..errors import CheckpointError
from .tables import MAX_SYMBOLS, fingerprint_bytes, quantize_pmf

FILE = "entropy.json"


class StageEntropyModel:
    """Per-stage unigram tables for maps whose row ``s`` holds stage ``s``'s codes.

    Args:
        stage_counts: (S, K) non-negative code counts of each stage (``fit_stage_counts``);
            each row becomes an integer table with ``quantize_pmf``'s floor.
    """

    name = "stages"

    def __init__(self, stage_counts) -> None:
        counts = np.asarray(stage_counts, dtype=np.float64)
        if counts.ndim != 2 or counts.shape[0] < 1 or counts.shape[1] < 2:
            raise ValueError(f"stage counts must be (S, K) with K >= 2, got {counts.shape}")
        self.counts = counts
        self.num_stages, self.num_symbols = counts.shape
        self.tables = np.stack([quantize_pmf(row) for row in counts])  # (S, K) int64

    def fingerprint(self) -> bytes:
        return fingerprint_bytes(self.name.encode(), self.tables.astype("<i8").tobytes())

    def schedule(self, shape: tuple[int, int]) -> list[np.ndarray]:
        """One block per row (stage), each in order: a block shares one table."""
        rows, cols = int(shape[0]), int(shape[1])
        return [np.arange(r * cols, (r + 1) * cols, dtype=np.int64) for r in range(rows)]

    def frequencies(self, indices: torch.Tensor, positions: np.ndarray) -> np.ndarray:
        rows, cols = indices.shape
        if rows > self.num_stages:
            raise ValueError(f"a map of {rows} rows for a model of {self.num_stages} stages")
        stage = np.asarray(positions, dtype=np.int64) // cols
        if len(stage) and np.all(stage == stage[0]):  # one stage: one shared row
            return np.broadcast_to(self.tables[stage[0]], (len(stage), self.num_symbols))
        return self.tables[stage]

    def bits_per_code(self) -> np.ndarray:
        """(S,) expected bits of one code of each stage under its own table (cross-entropy of
        the fitted counts with the integer tables)."""
        p = self.counts / np.maximum(self.counts.sum(axis=1, keepdims=True), 1)
        return -(p * np.log2(self.tables / 2.0**16)).sum(axis=1)

    @classmethod
    def load(
        cls, run_dir: str | Path, num_stages: int, num_symbols: int
    ) -> StageEntropyModel | None:
        """The run dir's per-stage tables (``entropy.json``'s ``stage_counts``), or None.

        Raises:
            CheckpointError: ``stage_counts`` is not ``num_stages`` lists of ``num_symbols``
                integers in [0, 2**53].
        """
        path = Path(run_dir) / FILE
        if not path.is_file():
            return None
        counts = read_json(path).get("stage_counts")
        if counts is None:
            return None
        ok = (
            isinstance(counts, list)
            and len(counts) == num_stages
            and 2 <= num_symbols <= MAX_SYMBOLS
            and all(isinstance(row, list) and len(row) == num_symbols for row in counts)
            and all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 1 << 53
                for row in counts
                for c in row
            )
        )
        if not ok:
            raise CheckpointError(
                f"{path}: stage_counts must be {num_stages} lists of {num_symbols} integer counts"
            )
        return cls(np.asarray(counts, dtype=np.int64))


@torch.no_grad()
def fit_stage_counts(model, batches: Iterable[torch.Tensor]) -> np.ndarray:
    """Count each stage's codes over ``batches`` of model inputs.

    Args:
        model: a VQ-VAE whose ``encode`` gives (B, S, ...) indices (S stages or groups).
        batches: inputs for ``model.encode`` (audio: float (B, 1, T) in [-1, 1]).

    Returns:
        int64 (S, K) counts.
    """
    s, k = model.quantizer.num_stages, model.quantizer.codebook_size
    counts = torch.zeros(s, k, dtype=torch.int64)
    device = next(model.parameters()).device
    for x in batches:
        indices = model.encode(x.to(device)).cpu()  # (B, S, ...)
        per_stage = indices.transpose(0, 1).reshape(s, -1)
        offsets = torch.arange(s)[:, None] * k
        counts += torch.bincount((per_stage + offsets).flatten(), minlength=s * k).view(s, k)
    return counts.numpy()

"""Nearest-code search in fp32, chunked so large codebooks fit in memory."""

from __future__ import annotations

import torch

# Rows of the (N, K) distance matrix computed at once: bounds memory at chunk * K floats.
_MAX_ELEMENTS = 1 << 26


def nearest_code(
    vectors: torch.Tensor, codebook: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Index of the nearest codebook row (squared Euclidean) for each vector.

    Args:
        vectors: (N, D) float tensor.
        codebook: (K, D) float tensor.
        bias: optional cost added to the distances: (K,) per code (e.g. a rate penalty), or
            (N, K) per vector and code (e.g. code lengths under a context model).

    Returns:
        (N,) int64 indices. Computed in fp32 as ||e||^2 - 2 z.e (||z||^2 is constant per row).
    """
    vectors = vectors.float()
    codebook = codebook.float()
    code_sq = codebook.pow(2).sum(1)  # (K,)
    if bias is not None:
        code_sq = code_sq + bias.float()  # (K,) or (N, K)
    n, k = vectors.shape[0], codebook.shape[0]
    chunk = max(1, _MAX_ELEMENTS // max(k, 1))
    if n <= chunk:
        return torch.addmm(code_sq, vectors, codebook.t(), alpha=-2.0).argmin(1)
    out = torch.empty(n, dtype=torch.long, device=vectors.device)
    for start in range(0, n, chunk):
        part = vectors[start : start + chunk]
        offset = code_sq if code_sq.dim() == 1 else code_sq[start : start + chunk]
        out[start : start + chunk] = torch.addmm(offset, part, codebook.t(), alpha=-2.0).argmin(1)
    return out

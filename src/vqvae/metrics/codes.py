"""Code-usage statistics of a codebook, for any modality."""

from __future__ import annotations

import torch


def code_statistics(counts: torch.Tensor) -> dict[str, float]:
    """Usage of a codebook from per-code counts over a dataset.

    Returns:
        usage: fraction of codes used at least once.
        bits_per_code: entropy of the empirical code distribution, in bits.
        perplexity: 2 ** bits_per_code (K when every code is equally used).
    """
    counts = counts.double()
    probs = counts / counts.sum().clamp_min(1)
    nz = probs[probs > 0]
    bits = float(-(nz * torch.log2(nz)).sum())
    return {
        "usage": float((counts > 0).double().mean()),
        "bits_per_code": bits,
        "perplexity": float(2.0**bits),
    }

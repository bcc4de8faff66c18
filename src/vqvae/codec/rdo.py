"""Rate-distortion optimised code choice at coding time (``vqvae compress --rd-lambda L``).

The VQ-VAE's encoder gives each latent vector its nearest code. The codec can instead choose,
block by block in the entropy model's coding order, the code minimising

    ||z - e_k||^2 + L * bits_k        bits_k = PRECISION - log2(table[k])

where ``table`` is the integer table the coder will really use for that position, computed
from the codes already chosen (greedy, like rate-distortion optimised quantisation in video
coders; entropy-constrained VQ, Chou, Lookabaugh & Gray 1989). ``L = 0`` gives the nearest
codes; a larger ``L`` spends fewer bits for more latent distortion: one trained model, many
operating points. The decoder needs nothing new: it decodes whatever codes were chosen.
"""

from __future__ import annotations

import numpy as np
import torch

from .entropy import PRECISION, EntropyModel, block_tables, coding_blocks


def choose_codes(distances: torch.Tensor, model: EntropyModel, rd_lambda: float) -> torch.Tensor:
    """Greedy rate-distortion choice of a code map.

    Args:
        distances: (H', W', K) squared distances from each latent vector to every code (in the
            quantizer's lookup space).
        model: the entropy model that will code the map.
        rd_lambda: L >= 0, latent squared distance per bit.

    Returns:
        (H', W') int64 code map.
    """
    if not rd_lambda >= 0 or not np.isfinite(rd_lambda):
        raise ValueError(f"rd_lambda must be a finite number >= 0, got {rd_lambda}")
    if distances.dim() != 3 or distances.shape[-1] != model.num_symbols:
        raise ValueError(
            f"distances must be (H', W', {model.num_symbols}), got {tuple(distances.shape)}"
        )
    shape = (int(distances.shape[0]), int(distances.shape[1]))
    cost = distances.detach().cpu().double().reshape(-1, model.num_symbols)
    flat = cost.argmin(1)  # nearest codes; each block is overwritten in coding order
    if rd_lambda == 0:
        return flat.view(shape)
    for block in coding_blocks(model, shape):
        freqs = block_tables(model, flat.view(shape), block)
        bits = torch.from_numpy(PRECISION - np.log2(freqs.astype(np.float64)))
        rows = torch.from_numpy(block)
        flat[rows] = (cost[rows] + rd_lambda * bits).argmin(1)
    return flat.view(shape)

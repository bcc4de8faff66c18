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

from ..entropy.tables import PRECISION, EntropyModel, block_tables, coding_blocks
from ..rate import check_weight
from ..rate import choose_codes as choose_by_rate


class TableRate:
    """The coder's own code lengths: ``PRECISION - log2(table[k])`` of the integer table the
    range coder will use at each position, given the codes before it (a ``vqvae.rate``
    rate model for one map, asked block by block in coding order)."""

    def __init__(self, model: EntropyModel) -> None:
        self.model = model

    def bits(self, codes: torch.Tensor, positions: np.ndarray | None = None) -> torch.Tensor:
        if positions is None:
            raise ValueError("the coder's tables are asked for block by block, in coding order")
        freqs = block_tables(self.model, codes, positions)
        return torch.from_numpy(PRECISION - np.log2(freqs.astype(np.float64)))


def choose_codes(distances: torch.Tensor, model: EntropyModel, rd_lambda: float) -> torch.Tensor:
    """Greedy rate-distortion choice of a code map: ``vqvae.rate.choose_codes`` in the entropy
    model's coding order with the coder's tables as the rate.

    Args:
        distances: (H', W', K) squared distances from each latent vector to every code (in the
            quantizer's lookup space).
        model: the entropy model that will code the map.
        rd_lambda: L >= 0, latent squared distance per bit.

    Returns:
        (H', W') int64 code map.
    """
    rd_lambda = check_weight(rd_lambda, "rd_lambda")
    if distances.dim() != 3 or distances.shape[-1] != model.num_symbols:
        raise ValueError(
            f"distances must be (H', W', {model.num_symbols}), got {tuple(distances.shape)}"
        )
    shape = (int(distances.shape[0]), int(distances.shape[1]))
    cost = distances.detach().cpu().double()
    order = coding_blocks(model, shape) if rd_lambda > 0 else None
    return choose_by_rate(cost, TableRate(model), rd_lambda, order=order)

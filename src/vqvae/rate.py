"""The bits of each code at each position, and the one rule that chooses codes by them.

Every way vqvae chooses the code of a latent vector z is entropy-constrained VQ (Chou,
Lookabaugh & Gray 1989)::

    code(t) = argmin_k  ||z_t - e_k||^2 + lambda * bits_k(t)

- nearest codes: lambda = 0;
- unigram rate (``train --rate-weight``): bits_k = -log2 of code k's running usage share
  (``unigram_bits``, applied inside the quantizer's nearest-code search);
- context rate (``train --rate-prior``): bits_k(t) = -log2 p_prior(k | codes before t)
  (``vqvae.priors.rate.PriorRate``);
- rate-distortion choice (``compress --rd-lambda``): bits from the coder's own integer tables,
  in coding order (``vqvae.codec.rdo.TableRate``).

A ``RateModel`` supplies the bits; ``choose_codes`` makes the choice, in one of two ways:
*parallel* (every position at once, the context being the codes of the previous round, for
``passes`` rounds starting from the nearest codes: what training can afford) or *sequential*
in a coding order of blocks (each block's bits computed from the codes already chosen: the
exact greedy choice the codec makes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .progress import track


@runtime_checkable
class RateModel(Protocol):
    """Code lengths in bits, given the codes around each position.

    ``bits(codes)`` takes code maps (B, h, w) int64 and returns (B, h, w, K): the bits of
    every code k at every position, in the context of ``codes``. ``bits(codes, positions)``
    takes one map (h, w) and returns (len(positions), K) for those raster positions (only
    needed for the sequential choice).
    """

    def bits(self, codes: torch.Tensor, positions: np.ndarray | None = None) -> torch.Tensor: ...


def unigram_bits(usage: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """-log2 of each code's share of ``usage`` (K,) (+ ``eps`` each), in float64."""
    usage = usage.double() + eps
    return -torch.log2(usage / usage.sum())


def check_weight(weight: float, name: str = "lambda") -> float:
    """``weight`` as a float; ValueError unless it is finite and >= 0."""
    weight = float(weight)
    if not (weight >= 0 and math.isfinite(weight)):
        raise ValueError(f"{name} must be a finite number >= 0, got {weight}")
    return weight


def parallel_cost(
    distances: torch.Tensor, rate: RateModel, weight: float, passes: int = 2
) -> torch.Tensor:
    """``weight * bits`` of every code at every position, the context chosen in parallel.

    Round 0 takes the nearest codes as context; each further round takes the codes the
    previous round's costs gave. (The exact choice is sequential; this is its fixed-point
    approximation, one rate-model pass per round over the whole batch.)

    Args:
        distances: (B, h, w, K) squared latent distances (plus any cost already charged).
        rate: the code lengths.
        weight: lambda, squared distance per bit.
        passes: rounds of context refinement (>= 1).

    Returns:
        (B, h, w, K) the last round's costs, to add to ``distances`` before the argmin.
    """
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    codes = distances.argmin(-1)
    for round_ in range(passes):
        cost = weight * rate.bits(codes)
        if round_ + 1 < passes:
            codes = (distances + cost).argmin(-1)
    return cost


def choose_codes(
    distances: torch.Tensor,
    rate: RateModel | None,
    weight: float,
    order: Sequence[np.ndarray] | None = None,
    passes: int = 2,
) -> torch.Tensor:
    """``argmin_k distances + weight * bits_k`` at every position.

    Args:
        distances: (B, h, w, K) for the parallel choice; (h, w, K) for the sequential one.
        rate: the code lengths (None, or ``weight`` 0: the nearest codes).
        weight: lambda >= 0, squared distance per bit.
        order: blocks of raster positions (int64 arrays covering the map once): choose
            block by block, each from the codes already chosen. None: the parallel choice.
        passes: rounds of the parallel choice.

    Returns:
        int64 codes, ``distances.shape[:-1]``.
    """
    weight = check_weight(weight)
    if rate is None or weight == 0:
        return distances.argmin(-1)
    if order is None:
        return (distances + parallel_cost(distances, rate, weight, passes)).argmin(-1)
    k = distances.shape[-1]
    costs = distances.reshape(-1, k)
    codes = costs.argmin(1)  # the nearest codes; each block is overwritten in order
    shape = tuple(distances.shape[:-1])
    for block in track(order, desc="choosing codes", unit="block"):
        rows = torch.from_numpy(block)
        codes[rows] = (costs[rows] + weight * rate.bits(codes.view(shape), block)).argmin(1)
    return codes.view(shape)

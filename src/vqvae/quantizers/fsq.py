"""Finite scalar quantization (Mentzer et al. 2023, "Finite Scalar Quantization: VQ-VAE Made
Simple"): round each of n bounded channels to one of L_i levels; the implicit codebook is the
grid of prod(L_i) points, so there is nothing to learn, collapse or restart.

    z_e (N, D) --in_proj--> z (N, n) --bound--> b in (-L/2, L/2) --round--> q (integers)
    code = q / (L // 2) in [-1, 1]   z_q = out_proj(code)   (projections only when D != n)
    index = sum_i (q_i + L_i // 2) * prod_{j<i} L_j        (a bijection codes <-> [0, prod L))

Gradient: straight-through around the rounding only (value exactly the grid point).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import QuantizerConfig
from .base import (
    Quantizer,
    QuantizerOutput,
    from_flat,
    no_autocast,
    perplexity_from_counts,
    register,
    to_flat,
)


def fsq_levels_for(codebook_size: int) -> list[int]:
    """Levels with product ``codebook_size`` (a power of two >= 16): 8s, then 4s or a 16."""
    bits = int(math.log2(codebook_size)) if codebook_size > 0 else 0
    if 2**bits != codebook_size or bits < 4:
        raise ValueError(
            f"fsq needs options['levels'] (e.g. --levels 8,5,5,5) for codebook_size "
            f"{codebook_size}; automatic levels exist for powers of two >= 16"
        )
    eights, rest = divmod(bits, 3)
    if rest == 1:  # 8 * 2 -> 4 * 4
        return [8] * (eights - 1) + [4, 4]
    return [8] * eights + ([4] if rest == 2 else [])


@register("fsq")
class FiniteScalarQuantizer(Quantizer):
    """FSQ with ``options["levels"]`` (ints >= 3; default from ``codebook_size``, which must
    equal their product). indices (B, *spatial) in [0, prod(levels)).
    """

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__(config)
        levels = config.option("levels") or fsq_levels_for(config.codebook_size)
        levels = [int(level) for level in levels]
        if any(level < 3 for level in levels):
            raise ValueError(f"fsq levels must all be >= 3, got {levels}")
        if math.prod(levels) != config.codebook_size:
            raise ValueError(
                f"fsq levels {levels} give {math.prod(levels)} codes but codebook_size is "
                f"{config.codebook_size}"
            )
        if config.rotation_trick or config.entropy_weight > 0:
            raise ValueError("fsq takes neither the rotation trick nor the entropy regulariser")
        self.levels_list = levels
        n = len(levels)
        basis = [math.prod(levels[:i]) for i in range(n)]
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.long), persistent=False)
        self.register_buffer("basis", torch.tensor(basis, dtype=torch.long), persistent=False)
        if config.code_dim == n:
            self.in_proj: nn.Module = nn.Identity()
            self.out_proj: nn.Module = nn.Identity()
        else:
            self.in_proj = nn.Linear(config.code_dim, n)
            self.out_proj = nn.Linear(n, config.code_dim)

    def _bound(self, z: torch.Tensor) -> torch.Tensor:
        """tanh squashing into (-L/2, L/2), shifted for even L so rounding gives exactly L values."""
        levels = self.levels.float()
        half = (levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return torch.tanh(z + shift) * half - offset

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Grid points (..., n) in [-1, 1] -> ids (...)."""
        half = (self.levels // 2).float()
        digits = torch.round(codes * half + half).long()
        return (digits * self.basis).sum(-1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """ids (...) -> grid points (..., n) in [-1, 1]."""
        digits = (indices.unsqueeze(-1) // self.basis) % self.levels
        half = self.levels // 2
        return (digits - half).float() / half.float()

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        self._check_input(z_e)
        with no_autocast(z_e.device.type):
            z = self.in_proj(to_flat(z_e))  # (N, n)
            bounded = self._bound(z)
            rounded = torch.round(bounded.detach())
            half = (self.levels // 2).float()
            # value exactly the grid point; gradient straight through the rounding
            codes = rounded / half + (bounded - bounded.detach()) / half
            indices = self.codes_to_indices(rounded / half)
            z_q = self.out_proj(codes)
            counts = torch.bincount(indices, minlength=self.codebook_size)
            zero = z.new_zeros(())
        return QuantizerOutput(
            z_q=from_flat(z_q, z_e),
            indices=indices.reshape(z_e.shape[0], *z_e.shape[2:]),
            loss=zero,
            perplexity=perplexity_from_counts(counts),
            codebook_loss=zero,
            commitment_loss=zero,
        )

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (B, *spatial) -> z_q (B, D, *spatial)."""
        return self.out_proj(self.indices_to_codes(indices)).movedim(-1, 1)

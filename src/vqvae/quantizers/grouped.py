"""Grouped (product) VQ (Jegou et al. 2011, product quantization; Baevski et al. 2020,
wav2vec 2.0 codebook groups): split the D channels into G groups of D/G and quantize each with
its own codebook of K codes, so G small lookups address K^G combinations.

    z_e (N, D) -> [z^1 | ... | z^G] -> [e^1 | ... | e^G] -> z_q = estimator(z_e, concat)
    indices (B, G, H, W);  loss = mean over groups (the scale of one D-dim VQ)
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import QuantizerConfig
from .base import (
    Quantizer,
    QuantizerOutput,
    build_quantizer,
    from_flat,
    no_autocast,
    perplexity_from_counts,
    register,
    to_flat,
)
from .residual import stage_config
from .vq import estimate


@register("grouped")
class GroupedVectorQuantizer(Quantizer):
    """Product VQ; options "groups" (default 2, must divide code_dim) and "stage_kind"
    ("ema" default, or "vq"). Each group has ``codebook_size`` codes of dim D/G.

    Returns indices (B, G, *spatial); ``embed`` takes the same.
    """

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__(config)
        g = int(config.option("groups", 2))
        if g < 1 or config.code_dim % g:
            raise ValueError(f"groups must be >= 1 and divide code_dim {config.code_dim}, got {g}")
        inner = stage_config(config, config.code_dim // g)
        self.groups = nn.ModuleList(build_quantizer(inner) for _ in range(g))

    @property
    def num_stages(self) -> int:
        return len(self.groups)

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        self._check_input(z_e)
        with no_autocast(z_e.device.type):
            flat = to_flat(z_e)  # (N, D)
            parts = flat.split(self.config.code_dim // self.num_stages, dim=1)
            steps = [group.lookup(part) for group, part in zip(self.groups, parts, strict=True)]
            codes = torch.cat([step.codes.detach() for step in steps], dim=1)  # (N, D)
            z_q = estimate(self.config, flat, codes)
            indices = torch.stack([step.indices for step in steps], dim=1)  # (N, G)
            g = self.num_stages
            loss = sum(step.loss for step in steps) / g
            codebook_loss = sum(step.codebook_loss for step in steps) / g
            commitment_loss = sum(step.commitment_loss for step in steps) / g
            perplexity = perplexity_from_counts(torch.cat([step.counts for step in steps]))
        return QuantizerOutput(
            z_q=from_flat(z_q, z_e),
            indices=indices.t().reshape(g, z_e.shape[0], *z_e.shape[2:]).movedim(0, 1),
            loss=loss,
            perplexity=perplexity,
            codebook_loss=codebook_loss,
            commitment_loss=commitment_loss,
        )

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (B, G, *spatial) -> z_q (B, D, *spatial): the groups' codes concatenated."""
        if indices.dim() < 2 or indices.shape[1] != self.num_stages:
            raise ValueError(
                f"expected indices of shape (B, {self.num_stages}, ...), got {tuple(indices.shape)}"
            )
        parts = [group.embed(indices[:, i]) for i, group in enumerate(self.groups)]
        return torch.cat(parts, dim=1)

"""Cosine-similarity codes looked up in a low-dimensional space (Yu et al. 2022, ViT-VQGAN,
"Vector-quantized Image Modeling with Improved VQGAN", sec. 3.2 "factorized codes").

    z_e (N, D) --in_proj--> (N, d) --l2-normalise--> v      d = lookup_dim << D
    nearest code by cosine similarity: argmax_k v . e^_k   (= argmin ||v - e^_k||^2, unit vectors)
    z_q = out_proj(estimator(v, e^))  (N, D)

A small d and unit-norm codes make every code reachable (no code sits far out in a corner of
a high-dimensional space), which is the paper's remedy for low codebook usage.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import QuantizerConfig
from .base import register
from .vq import VectorQuantizer


@register("cosine")
class CosineVectorQuantizer(VectorQuantizer):
    """VQ on l2-normalised, linearly projected vectors with a gradient-learned codebook.

    ``config.options["lookup_dim"]`` (default 8) is the lookup dimension d. Losses, k-means
    init, dead-code restarts and the entropy regulariser all act in the normalised d-space;
    ``embed(indices)`` returns ``out_proj`` of the normalised codes, (B, D, *spatial).
    """

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__(config)
        d = self._lookup_dim()
        self.in_proj = nn.Linear(config.code_dim, d)
        self.out_proj = nn.Linear(d, config.code_dim)

    def _lookup_dim(self) -> int:
        d = int(self.config.option("lookup_dim", 8))
        if d < 1:
            raise ValueError(f"lookup_dim must be >= 1, got {d}")
        return d

    def _init_codebook_storage(self, k: int, d: int) -> None:
        self.codebook = nn.Parameter(F.normalize(torch.randn(k, d), dim=-1))

    def _project_in(self, flat: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.in_proj(flat), dim=-1)

    def _project_out(self, codes: torch.Tensor) -> torch.Tensor:
        return self.out_proj(codes)

    def _lookup_codebook(self) -> torch.Tensor:
        # A clone, so in-place code restarts do not touch the tensor normalize saved for backward.
        return F.normalize(self.codebook.clone(), dim=-1)

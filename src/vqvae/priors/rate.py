"""The prior as a rate model: -log2 p(code | codes before it), for code assignment."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .transformer import TransformerPrior


class PriorRate:
    """Bits of every code at every position under a frozen prior, teacher-forced on ``codes``.

    Args:
        prior: the context model (kept in eval mode, no gradients).
    """

    def __init__(self, prior: TransformerPrior) -> None:
        self.prior = prior.eval().requires_grad_(False)

    @torch.no_grad()
    def bits(self, codes: torch.Tensor, positions: np.ndarray | None = None) -> torch.Tensor:
        """(B, h, w) codes -> (B, h, w, K) bits (unconditional: no class label)."""
        if positions is not None:
            raise ValueError("the prior's rate is computed for whole maps only")
        logits = self.prior(codes)  # (B, h, w, K)
        return -F.log_softmax(logits, dim=-1) / math.log(2)

"""Entropy-constrained code assignment under a context model, for training (``--rate-prior``).

The quantizer's ``rate_weight`` charges each code its length under the codes' *unigram*
distribution. The codec, though, codes maps with an autoregressive prior, where a code's cost
depends on its neighbours: a stroke continuing a stroke is cheap, the same code in the
background is not. ``ContextRate`` charges that cost while the VQ-VAE trains:

    code at position t = argmin_k  ||z_t - e_k||^2 + bias_k + lambda * bits_k(t)
    bits_k(t) = -log2 p_prior(k | codes before t)

with a frozen prior (trained on a source model's codes). The exact choice is sequential
(position t's costs need the codes chosen before it, as ``vqvae.codec.rdo`` does at coding
time); training uses a parallel approximation instead: the nearest codes give a first context,
its costs give new codes, and those the next context (``passes`` rounds, each one teacher-forced
prior pass over the batch). The encoder then commits to, and the decoder learns to decode, the
codes the prior finds cheap; the codec's ``--rd-lambda`` makes the exact sequential choice.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F

from .. import checkpoint
from ..errors import CheckpointError, DataError
from ..models import VQVAE
from ..priors import TransformerPrior, load_prior
from ..quantizers.vq import VectorQuantizer


class ContextRate:
    """``lambda * bits`` of every code at every position under a frozen prior.

    Args:
        prior: the context model (kept in eval mode, no gradients).
        quantizer: the VQ-VAE's quantizer (single-codebook VQ: "vq", "ema", "cosine").
        weight: lambda, latent squared distance per bit (> 0).
        passes: rounds of context refinement (>= 1).

    Call it on z_e (B, D, h, w) to get the (B, h, w, K) costs ``VQVAE.forward`` passes to the
    quantizer as ``code_cost``.
    """

    def __init__(
        self,
        prior: TransformerPrior,
        quantizer: VectorQuantizer,
        weight: float,
        passes: int = 2,
    ) -> None:
        if not isinstance(quantizer, VectorQuantizer):
            raise ValueError(
                "a rate prior needs a single-codebook quantizer (vq, ema or cosine), "
                f"got {quantizer.config.kind}"
            )
        if prior.codebook_size != quantizer.codebook_size:
            raise ValueError(
                f"the rate prior models {prior.codebook_size} codes, "
                f"the quantizer has {quantizer.codebook_size}"
            )
        if not weight > 0 or not math.isfinite(weight):
            raise ValueError(f"the prior rate weight must be a finite number > 0, got {weight}")
        if passes < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        self.prior = prior.eval().requires_grad_(False)
        self.quantizer = quantizer
        self.weight = float(weight)
        self.passes = passes

    @torch.no_grad()
    def code_bits(self, codes: torch.Tensor) -> torch.Tensor:
        """-log2 p(k | codes before each position), (B, h, w, K), with ``codes`` as context."""
        logits = self.prior(codes)  # (B, h, w, K), unconditional
        return -F.log_softmax(logits, dim=-1) / math.log(2)

    @torch.no_grad()
    def __call__(self, z_e: torch.Tensor) -> torch.Tensor:
        try:
            self.prior.check_shape(tuple(z_e.shape[2:]))
        except ValueError as exc:  # e.g. a photo for a model whose prior knows 7x7 digits
            raise DataError(f"codes chosen under the rate prior: {exc}") from None
        base = self.quantizer.code_distances(z_e)  # (B, h, w, K)
        bias = self.quantizer.rate_bias()
        if bias is not None:
            base = base + bias
        codes = base.argmin(-1)
        for _ in range(self.passes):
            cost = self.weight * self.code_bits(codes)
            codes = (base + cost).argmin(-1)
        return cost


def training_assignment(run_dir: str | os.PathLike, model: VQVAE) -> ContextRate | None:
    """The code assignment ``model`` (loaded from ``run_dir``) was trained with, if it was
    trained under a rate prior (``vqvae train --rate-prior``): its codes are only meaningful
    chosen that way. None for a plain run.

    Raises:
        CheckpointError: the rate prior's run dir is gone or no longer holds that prior.
    """
    train = checkpoint.read_run_config(run_dir).get("train", {})
    if not train.get("rate_prior"):
        return None
    try:
        prior = load_prior(train["rate_prior"], map_location=next(model.parameters()).device)
        return ContextRate(prior, model.quantizer, float(train["rate_prior_weight"]))
    except (CheckpointError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{run_dir} was trained under a rate prior: {exc}") from None


def trained_rd_lambda(run_dir: str | os.PathLike) -> float | None:
    """The ``--rate-prior-weight`` a run was trained under (None for a plain run)."""
    train = checkpoint.read_run_config(run_dir).get("train", {})
    return float(train["rate_prior_weight"]) if train.get("rate_prior") else None

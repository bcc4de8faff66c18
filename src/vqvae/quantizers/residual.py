"""Residual VQ (Zeghidour et al. 2021, SoundStream, Alg. 1): S codebooks quantize what the
previous stages left over.

    r_0 = z_e;   e_s = nearest code of r_s in codebook s;   r_{s+1} = r_s - sg(e_s)
    z_q = estimator(z_e, e_0 + ... + e_{S-1})      indices (B, S, H, W)
    loss = sum_s (codebook_s + beta * commitment_s)

The residuals are built from *detached* codes, so d r_s / d z_e = I for every stage and each
stage's commitment term ||r_s - sg(e_s)||^2 pulls on the encoder (without the detach, as in
implementations that subtract the straight-through output, the later stages' terms cancel).
One estimator on the sum keeps d z_q / d z_e = I (summing per-stage straight-through outputs
would scale the encoder's gradient by S).

Quantizer dropout (SoundStream sec. 3.3): in training, with probability ``dropout`` a batch
uses only its first n ~ U{1..S} stages; the dropped stages' indices are -1 (``embed`` skips
them), so one model serves every bitrate.
"""

from __future__ import annotations

import dataclasses

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
from .vq import VectorQuantizer, estimate

STAGE_KINDS = ("ema", "vq")


def stage_config(config: QuantizerConfig, code_dim: int) -> QuantizerConfig:
    """The config of one inner codebook of a multi-codebook quantizer."""
    kind = config.option("stage_kind", "ema")
    if kind not in STAGE_KINDS:
        raise ValueError(f"stage_kind must be one of {', '.join(STAGE_KINDS)}, got {kind!r}")
    # the stages share the regulariser; the estimator is applied once, by the outer quantizer
    keep = {
        k: v for k, v in config.options.items() if k in ("entropy_weight", "entropy_temperature")
    }
    return dataclasses.replace(config, kind=kind, code_dim=code_dim, options=keep)


@register("rvq")
class ResidualVectorQuantizer(Quantizer):
    """S-stage residual VQ; options "num_stages" (default 4), "dropout" (default 0.0),
    "stage_kind" ("ema" default, or "vq"). Each stage has ``codebook_size`` codes.

    Returns indices (B, S, *spatial); ``embed`` takes the same and ignores ids < 0.
    """

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__(config)
        n = int(config.option("num_stages", 4))
        self.dropout = float(config.option("dropout", 0.0))
        if n < 1:
            raise ValueError(f"num_stages must be >= 1, got {n}")
        if not 0.0 <= self.dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {self.dropout}")
        inner = stage_config(config, config.code_dim)
        self.stages = nn.ModuleList(build_quantizer(inner) for _ in range(n))

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def _active_stages(self) -> int:
        if self.training and self.dropout > 0 and float(torch.rand(())) < self.dropout:
            return int(torch.randint(1, self.num_stages + 1, ()))
        return self.num_stages

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        self._check_input(z_e)
        with no_autocast(z_e.device.type):
            flat = to_flat(z_e)  # (N, D)
            n = flat.shape[0]
            active = self._active_stages()
            residual = flat
            total = torch.zeros_like(flat)
            indices = torch.full((n, self.num_stages), -1, dtype=torch.long, device=flat.device)
            counts = torch.zeros(self.num_stages, self.codebook_size, device=flat.device)
            loss = codebook_loss = commitment_loss = flat.new_zeros(())
            for s in range(active):
                stage: VectorQuantizer = self.stages[s]  # type: ignore[assignment]
                step = stage.lookup(residual)
                codes = step.codes.detach()
                total = total + codes
                residual = residual - codes  # detached: every stage's commitment reaches z_e
                indices[:, s] = step.indices
                counts[s] = step.counts
                loss = loss + step.loss
                codebook_loss = codebook_loss + step.codebook_loss
                commitment_loss = commitment_loss + step.commitment_loss
            z_q = estimate(self.config, flat, total)
            perplexity = perplexity_from_counts(counts.flatten())
        return QuantizerOutput(
            z_q=from_flat(z_q, z_e),
            indices=indices.t()
            .reshape(self.num_stages, z_e.shape[0], *z_e.shape[2:])
            .movedim(0, 1),
            loss=loss,
            perplexity=perplexity,
            codebook_loss=codebook_loss,
            commitment_loss=commitment_loss,
        )

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (B, S, *spatial) -> z_q (B, D, *spatial): the sum of the stages' codes."""
        if indices.dim() < 2 or indices.shape[1] != self.num_stages:
            raise ValueError(
                f"expected indices of shape (B, {self.num_stages}, ...), got {tuple(indices.shape)}"
            )
        flat_ids = indices.movedim(1, -1).reshape(-1, self.num_stages)  # (N, S)
        total = torch.zeros(flat_ids.shape[0], self.config.code_dim, device=indices.device)
        for s, stage in enumerate(self.stages):
            ids = flat_ids[:, s]
            keep = ids >= 0
            codes = stage.weight[ids.clamp_min(0)]  # (N, D)
            total = total + torch.where(keep[:, None], codes, torch.zeros_like(codes))
        out = total.reshape(indices.shape[0], *indices.shape[2:], -1)
        return out.movedim(-1, 1)

"""The one quantizer interface: every quantizer maps z_e (B, D, H, W) to a QuantizerOutput."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import QuantizerConfig


@dataclass
class QuantizerOutput:
    """What every quantizer returns.

    Attributes:
        z_q: quantized latents (B, D, H, W), carrying the gradient estimator's path to z_e.
        indices: code ids (B, H, W) int64 (or (B, S, H, W) for multi-stage quantizers).
        loss: scalar quantizer loss to add to the reconstruction loss.
        perplexity: exp of the entropy of the batch's code usage (K means uniform use).
        codebook_loss: the ||sg(z_e) - e||^2 term (zero for EMA codebooks).
        commitment_loss: the ||z_e - sg(e)||^2 term, before its weight.
    """

    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    perplexity: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


class Quantizer(nn.Module):
    """Base class: subclasses implement ``forward`` and ``embed``."""

    config: QuantizerConfig

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, indices: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """Look up codes: indices (B, H, W) -> z_q (B, D, H, W)."""
        raise NotImplementedError


_REGISTRY: dict[str, type[Quantizer]] = {}


def register(name: str):
    """Class decorator: make a quantizer buildable from ``QuantizerConfig.kind == name``."""

    def wrap(cls: type[Quantizer]) -> type[Quantizer]:
        _REGISTRY[name] = cls
        return cls

    return wrap


def quantizer_names() -> list[str]:
    return sorted(_REGISTRY)


def build_quantizer(config: QuantizerConfig) -> Quantizer:
    """Instantiate the quantizer named by ``config.kind``."""
    try:
        cls = _REGISTRY[config.kind]
    except KeyError:
        raise ValueError(
            f"unknown quantizer {config.kind!r}; choose from {', '.join(quantizer_names())}"
        ) from None
    return cls(config)


def perplexity_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """exp(H(p)) of the empirical code distribution given per-code counts."""
    probs = counts.float() / counts.sum().clamp_min(1)
    entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum()
    return entropy.exp()

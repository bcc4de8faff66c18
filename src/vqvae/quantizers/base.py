"""The one quantizer interface: every quantizer maps z_e (B, D, H, W) to a QuantizerOutput."""

from __future__ import annotations

import contextlib
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
        """Code ids per stage: every entry of ``indices`` lies in ``[0, codebook_size)``."""
        return self.config.codebook_size

    @property
    def num_stages(self) -> int:
        """Codebooks S used per position; > 1 means indices are (B, S, H, W)."""
        return 1

    @property
    def num_codes(self) -> int:
        """Distinct codes over all stages (the length of ``code_ids``' histogram)."""
        return self.num_stages * self.codebook_size

    def code_ids(self, indices: torch.Tensor) -> torch.Tensor:
        """Flatten ``indices`` into ids in ``[0, num_codes)`` for usage statistics.

        Stage s of a multi-stage quantizer is offset by ``s * codebook_size``, so each stage's
        codebook is counted separately; negative ids (stages dropped in training) are skipped.
        """
        if self.num_stages == 1:
            return indices.flatten()
        offsets = torch.arange(self.num_stages, device=indices.device) * self.codebook_size
        ids = indices.movedim(1, -1) + offsets  # (B, H, W, S)
        return ids[indices.movedim(1, -1) >= 0].flatten()

    def _check_input(self, z_e: torch.Tensor) -> None:
        if z_e.dim() < 2 or z_e.shape[1] != self.config.code_dim:
            raise ValueError(
                f"expected z_e of shape (B, {self.config.code_dim}, ...), got {tuple(z_e.shape)}"
            )

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, indices: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """Look up codes: indices (B, H, W) (or (B, S, H, W)) -> z_q (B, D, H, W)."""
        raise NotImplementedError


def no_autocast(device_type: str):
    """Quantizer math runs in fp32 even inside an autocast region."""
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # device type without autocast support
        return contextlib.nullcontext()


def to_flat(z_e: torch.Tensor) -> torch.Tensor:
    """(B, D, *spatial) -> (N, D) fp32 rows, one per position."""
    return z_e.float().movedim(1, -1).reshape(-1, z_e.shape[1])


def from_flat(flat: torch.Tensor, z_e: torch.Tensor) -> torch.Tensor:
    """Inverse of ``to_flat``: (N, D) -> the layout and dtype of ``z_e``."""
    return flat.reshape(z_e.shape[0], *z_e.shape[2:], -1).movedim(-1, 1).to(z_e.dtype)


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

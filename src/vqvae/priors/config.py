"""The prior's settings, stored as ``prior/config.json`` beside its weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import CheckpointError


@dataclass(frozen=True)
class PriorConfig:
    """Settings of the causal transformer prior over raster-ordered code maps.

    Args:
        codebook_size: K, the number of code ids (the VQ-VAE's codebook size).
        height: rows of the largest code map the prior models (H' of the VQ-VAE).
        width: columns of the largest code map (W').
        num_classes: label tokens for class conditioning; 0 trains an unconditional prior.
        n_layer: transformer blocks.
        n_head: attention heads per block.
        n_embd: width of the residual stream.
        dropout: dropout on attention weights, residual branches and embeddings.
        positions: "2d" (learned row + column embeddings) or "1d" (one learned embedding per
            raster position).
        label_dropout: fraction of training maps whose label is replaced by the "no label"
            token, so one model serves conditional and unconditional sampling and coding.
    """

    codebook_size: int = 512
    height: int = 7
    width: int = 7
    num_classes: int = 0
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 96
    dropout: float = 0.0
    positions: str = "2d"
    label_dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {self.codebook_size}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"code map size must be >= 1x1, got {self.height}x{self.width}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {self.num_classes}")
        if self.n_layer < 1 or self.n_head < 1:
            raise ValueError("n_layer and n_head must be >= 1")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.positions not in ("1d", "2d"):
            raise ValueError(f"positions must be '1d' or '2d', got {self.positions!r}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_dropout <= 1.0:
            raise ValueError("dropout must be in [0, 1) and label_dropout in [0, 1]")

    @property
    def block_size(self) -> int:
        """Tokens per sequence: one label / start token plus one per code (the last is not fed)."""
        return self.height * self.width

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriorConfig:
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid prior config: {exc}") from exc

    def replace(self, **changes: Any) -> PriorConfig:
        return dataclasses.replace(self, **changes)

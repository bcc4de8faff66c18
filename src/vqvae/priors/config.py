"""The prior's settings, stored as ``prior/config.json`` beside its weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..config import MAX_CODEBOOK, MAX_PARAMETERS, MAX_SIDE, MAX_WIDTH, check_int, check_real
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
        # types and ranges first: a prior/config.json may hold anything
        check_int("codebook_size", self.codebook_size, 2, MAX_CODEBOOK)
        check_int("height", self.height, 1, MAX_SIDE)
        check_int("width", self.width, 1, MAX_SIDE)
        check_int("num_classes", self.num_classes, 0, MAX_CODEBOOK)
        check_int("n_layer", self.n_layer, 1, 1000)
        check_int("n_head", self.n_head, 1, MAX_WIDTH)
        check_int("n_embd", self.n_embd, 1, MAX_WIDTH)
        check_real("dropout", self.dropout, 0, 1)
        check_real("label_dropout", self.label_dropout, 0, 1)
        if not isinstance(self.positions, str):
            raise ValueError(f"positions must be '1d' or '2d', got {self.positions!r}")
        parameters = self.estimate_parameters()
        if parameters > MAX_PARAMETERS:
            raise ValueError(
                f"this config would build a prior of {parameters:.3g} parameters, more than "
                f"the limit of {MAX_PARAMETERS:.3g}"
            )
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.positions not in ("1d", "2d"):
            raise ValueError(f"positions must be '1d' or '2d', got {self.positions!r}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_dropout <= 1.0:
            raise ValueError("dropout must be in [0, 1) and label_dropout in [0, 1]")

    def estimate_parameters(self) -> int:
        """Parameters of the ``TransformerPrior`` this config builds (exact; nothing allocated)."""
        c, k = self.n_embd, self.codebook_size
        positions = self.height + self.width if self.positions == "2d" else self.height * self.width
        block = 2 * 2 * c + (c + 1) * 3 * c + (c + 1) * c + (c + 1) * 4 * c + (4 * c + 1) * c
        return (
            (k + self.num_classes + 1 + positions) * c + self.n_layer * block + 2 * c + (c + 1) * k
        )

    @property
    def block_size(self) -> int:
        """Tokens per sequence: one label / start token plus one per code (the last is not fed)."""
        return self.height * self.width

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriorConfig:
        """The config of a prior/config.json's "prior" object; anything wrong is a one-line
        CheckpointError, raised before the prior is built."""
        try:
            if not isinstance(data, dict):
                raise ValueError(f"expected an object, got {data!r}")
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid prior config: {exc}") from None

    def replace(self, **changes: Any) -> PriorConfig:
        return dataclasses.replace(self, **changes)

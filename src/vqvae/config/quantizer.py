"""The quantizer's settings (``QuantizerConfig``) and the checks of its typed options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .checks import MAX_CODEBOOK, MAX_WIDTH, check_int, check_real, check_type

# Typed options of QuantizerConfig: name -> check (unknown names are kept as they are).
_OPTION_CHECKS = {
    "rotation_trick": lambda v: check_type("options.rotation_trick", v, bool),
    "entropy_weight": lambda v: check_real("options.entropy_weight", v, 0),
    "entropy_temperature": lambda v: check_real("options.entropy_temperature", v, 1e-6),
    "rate_weight": lambda v: check_real("options.rate_weight", v, 0),
    "restart_decay": lambda v: check_real("options.restart_decay", v, 0, 1),
    "dropout": lambda v: check_real("options.dropout", v, 0, 1),
    "num_stages": lambda v: check_int("options.num_stages", v, 1, 16),
    "groups": lambda v: check_int("options.groups", v, 1, MAX_WIDTH),
    "lookup_dim": lambda v: check_int("options.lookup_dim", v, 1, MAX_WIDTH),
    "stage_kind": lambda v: check_type("options.stage_kind", v, str),
    "levels": lambda v: _check_levels(v),
}


def _check_levels(levels: Any) -> None:
    if not isinstance(levels, (list, tuple)) or not 1 <= len(levels) <= 32:
        raise ValueError(f"options.levels must be a list of 1 to 32 integers, got {levels!r}")
    for level in levels:
        check_int("options.levels[]", level, 1, MAX_CODEBOOK)


@dataclass(frozen=True)
class QuantizerConfig:
    """Settings of the vector quantizer.

    Args:
        kind: registry name of the quantizer class ("vq", "ema", ...).
        codebook_size: number of codes K.
        code_dim: dimension D of each code (and of the encoder output).
        commitment_weight: beta on the commitment term ||z_e - sg(e)||^2 (0.25 in the paper).
        decay: EMA decay of the codebook statistics (EMA quantizer).
        eps: Laplace smoothing of the EMA cluster sizes.
        kmeans_init: initialise the codebook by k-means on the first training batch.
        kmeans_iters: Lloyd iterations of that k-means.
        dead_code_threshold: a code is dead (and restarted from batch vectors) when its running
            usage falls below this fraction of a uniform share; 0 disables restarts.
        options: settings beyond the original fields, a plain JSON dict (only what is set is
            stored, so older config.json files and model fingerprints stay as they were):
            "rotation_trick" (bool: the rotation trick of Fifty et al. 2024 instead of the
            straight-through estimator), "entropy_weight" (float: weight of the codebook-
            diversity regulariser, 0 = off), "entropy_temperature" (its softmax temperature),
            "rate_weight" (float: lambda of entropy-constrained assignment, nearest code under
            ||z - e||^2 + lambda * -log2 p(code), p the running usage; 0 = plain nearest),
            "restart_decay" (float: EMA decay of the recent-usage counts that decide which
            codes are dead, default 0.9, i.e. a horizon of ~10 steps, so an unused code is
            restarted after ~35 steps whatever the codebook decay), "levels" (fsq: list of ints >= 3; codebook_size must equal their product),
            "num_stages", "dropout", "stage_kind" (rvq: stages, quantizer-dropout probability,
            "ema" or "vq" per stage), "groups", "stage_kind" (grouped), "lookup_dim" (cosine),
    """

    kind: str = "ema"
    codebook_size: int = 512
    code_dim: int = 64
    commitment_weight: float = 0.25
    decay: float = 0.99
    eps: float = 1e-5
    kmeans_init: bool = True
    kmeans_iters: int = 10
    dead_code_threshold: float = 0.03
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_type("kind", self.kind, str)
        check_int("codebook_size", self.codebook_size, 2, MAX_CODEBOOK)
        check_int("code_dim", self.code_dim, 1, MAX_WIDTH)
        check_real("commitment_weight", self.commitment_weight, 0)
        if check_real("decay", self.decay, 0, 1) == 1:
            raise ValueError(f"decay must be in [0, 1), got {self.decay}")
        check_real("eps", self.eps, 0)
        check_type("kmeans_init", self.kmeans_init, bool)
        check_int("kmeans_iters", self.kmeans_iters, 0, 10_000)
        check_real("dead_code_threshold", self.dead_code_threshold, 0)
        if not isinstance(self.options, dict):
            raise ValueError(f"options must be a dict, got {type(self.options).__name__}")
        for name, value in self.options.items():
            if name in _OPTION_CHECKS:
                _OPTION_CHECKS[name](value)
        if self.entropy_weight < 0:
            raise ValueError(f"entropy_weight must be >= 0, got {self.entropy_weight}")
        if self.rate_weight < 0:
            raise ValueError(f"rate_weight must be >= 0, got {self.rate_weight}")
        if not 0.0 <= self.restart_decay < 1.0:
            raise ValueError(f"restart_decay must be in [0, 1), got {self.restart_decay}")

    def option(self, name: str, default: Any = None) -> Any:
        """``options[name]`` or ``default``."""
        return self.options.get(name, default)

    @property
    def rotation_trick(self) -> bool:
        """Rotation trick instead of straight-through (``options["rotation_trick"]``)."""
        return bool(self.options.get("rotation_trick", False))

    @property
    def rate_weight(self) -> float:
        """Lambda of entropy-constrained code assignment (``options["rate_weight"]``, 0)."""
        return float(self.options.get("rate_weight", 0.0))

    @property
    def restart_decay(self) -> float:
        """Decay of the usage EMA that picks dead codes (``options["restart_decay"]``, 0.9)."""
        return float(self.options.get("restart_decay", 0.9))

    @property
    def entropy_weight(self) -> float:
        """Weight of the entropy regulariser (``options["entropy_weight"]``, default 0)."""
        return float(self.options.get("entropy_weight", 0.0))

"""How a model chooses its codes, saved with it: nearest codes, or codes under a prior's
code lengths in context (``vqvae train --rate-prior``).

A model trained under a rate prior decodes well only the codes chosen the way it was trained,
so the rule is part of the model: ``VQVAE.from_pretrained`` restores it and every path that
encodes (``VQVAE.encode``, every CLI command, the codec) uses it without being told. The prior
it needs is copied into the run dir (``RUN_DIR/rate_prior``), never referenced by path::

    config.json  "assignment": {"rule": "context", "weight": L, "passes": 2,
                                "prior": "rate_prior"}
    rate_prior/  config.json + model.safetensors (the frozen prior)

The choice itself is ``vqvae.rate``'s: argmin ||z - e_k||^2 + unigram bias + L * bits_k(t),
its context chosen in parallel (``passes`` rounds).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, DataError
from ..priors import TransformerPrior, load_prior
from ..priors.io import load_prior_folder, save_prior_folder
from ..priors.rate import PriorRate
from ..rate import parallel_cost

ASSIGNMENT_KEY = "assignment"
RATE_PRIOR_DIR = "rate_prior"


class ContextAssignment:
    """Codes chosen under ``weight`` x their length in bits under a frozen prior, in context.

    Args:
        prior: the context model (over this model's codes; unconditional use).
        weight: lambda, latent squared distance per bit (> 0).
        passes: rounds of the parallel context choice (>= 1).
    """

    rule = "context"

    def __init__(self, prior: TransformerPrior, weight: float, passes: int = 2) -> None:
        weight = float(weight)
        if not weight > 0 or weight == float("inf"):
            raise ValueError(f"the prior rate weight must be a finite number > 0, got {weight}")
        if passes < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        self.rate = PriorRate(prior)
        self.prior = self.rate.prior
        self.weight = weight
        self.passes = passes
        self._saved_in: set[Path] = set()

    def check(self, quantizer, code_shape: tuple[int, int] | None = None) -> None:
        """ValueError unless ``quantizer`` (and code maps of ``code_shape``) fit this rule."""
        if not hasattr(quantizer, "code_distances"):
            raise ValueError(
                "a rate prior needs a single-codebook quantizer (vq, ema or cosine), "
                f"got {quantizer.config.kind}"
            )
        if self.prior.codebook_size != quantizer.codebook_size:
            raise ValueError(
                f"the rate prior models {self.prior.codebook_size} codes, "
                f"the quantizer has {quantizer.codebook_size}"
            )
        if code_shape is not None:
            self.prior.check_shape(code_shape)

    @torch.no_grad()
    def cost(self, quantizer, z_e: torch.Tensor) -> torch.Tensor:
        """The (B, h, w, K) cost the quantizer adds to its distances for ``z_e`` (B, D, h, w)."""
        try:
            self.prior.check_shape(tuple(z_e.shape[2:]))
        except ValueError as exc:  # e.g. a photo for a model whose prior knows 7x7 digits
            raise DataError(f"codes chosen under the rate prior: {exc}") from None
        if next(self.prior.parameters()).device != z_e.device:
            self.prior.to(z_e.device)
        distances = quantizer.code_distances(z_e)  # (B, h, w, K)
        bias = quantizer.rate_bias()
        if bias is not None:
            distances = distances + bias
        return parallel_cost(distances, self.rate, self.weight, self.passes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "weight": self.weight,
            "passes": self.passes,
            "prior": RATE_PRIOR_DIR,
        }

    def save(self, run_dir: str | os.PathLike) -> dict[str, Any]:
        """Copy the prior into ``run_dir`` (once) and return the config.json entry."""
        folder = (Path(run_dir) / RATE_PRIOR_DIR).resolve()
        if folder not in self._saved_in:  # the prior is frozen: once per run dir is enough
            save_prior_folder(self.prior, folder)
            self._saved_in.add(folder)
        return self.to_dict()


def context_assignment(
    prior_run: str | os.PathLike, weight: float, map_location="cpu"
) -> ContextAssignment:
    """The rule of ``train --rate-prior PRIOR_RUN --rate-prior-weight WEIGHT``."""
    return ContextAssignment(load_prior(prior_run, map_location=map_location), weight)


def _inside(run_dir: str | os.PathLike, name: str) -> Path:
    """``run_dir / name`` when it lies inside the run dir (a config.json never makes a run
    read a prior from elsewhere on disk); ValueError otherwise."""
    root = Path(run_dir).resolve()
    folder = (root / name).resolve()
    if folder == root or root not in folder.parents:
        raise ValueError(
            f"its rate prior {name!r} lies outside the run directory; a run's prior must be "
            f"inside it (copy the prior's run into {Path(run_dir) / RATE_PRIOR_DIR})"
        )
    return folder


def load_assignment(run_dir: str | os.PathLike, config: dict[str, Any]) -> ContextAssignment | None:
    """The rule saved in a run dir's ``config`` (its config.json), or None (nearest codes).

    Runs written before the rule was saved with the model name their rate prior's run dir
    in ``train.rate_prior``; that run dir is read only if it lies inside the run dir: a
    prior path that leads outside it (absolute, or through ``..``) is refused.

    Raises:
        CheckpointError: the entry or its prior is missing or damaged.
    """
    entry = config.get(ASSIGNMENT_KEY)
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    try:
        if entry is not None:
            if not isinstance(entry, dict) or entry.get("rule") != ContextAssignment.rule:
                raise ValueError(f"unknown code assignment {entry!r}")
            folder = _inside(run_dir, str(entry.get("prior", RATE_PRIOR_DIR)))
            if not (folder / "config.json").is_file():
                raise ValueError(f"{folder}: missing")
            prior = load_prior_folder(folder)
            return ContextAssignment(prior, float(entry["weight"]), int(entry.get("passes", 2)))
        if train.get("rate_prior"):  # the older layout: a path to another run
            folder = _inside(run_dir, str(train["rate_prior"]))
            return context_assignment(folder, float(train["rate_prior_weight"]))
    except (CheckpointError, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{run_dir}: its code assignment cannot be restored: {exc}") from None
    return None

"""Which model and entropy model code a stream: run dirs and shipped models, fingerprints.

``load(run_dir)`` gives a ``Codec`` (VQ-VAE + entropy model); ``load_for(header)`` the one
that decodes a stream, found among the shipped models by the model fingerprint the header
carries when no run dir is given.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import pretrained
from ..models import VQVAE
from .container import FormatError, Header
from .entropy import EntropyModel, entropy_model_names, load_entropy_model

PRETRAINED_MNIST = Path(__file__).resolve().parents[1] / "pretrained" / "mnist"
# What to do about a file written with a run dir and decoded with another model.
WRITER_HINT = "decode it with the run that wrote it (vqvae decompress --model RUN_DIR)"


@dataclass
class Codec:
    """A VQ-VAE together with the entropy model that codes its indices.

    Attributes:
        model: the VQ-VAE, in eval mode.
        entropy_model: the probability model over its code maps.
        run_dir: where both came from (None if built in memory).
    """

    model: VQVAE
    entropy_model: EntropyModel
    run_dir: Path | None = None


def load(
    run_dir: str | os.PathLike | None = None, entropy: str | None = None, device: str = "cpu"
) -> Codec:
    """Load a run dir's VQ-VAE and entropy model (``run_dir=None``: the packaged MNIST model).

    Args:
        run_dir: a ``vqvae train`` run directory.
        entropy: entropy model name ("static", "uniform", ...); None picks the best the run
            dir has (a fitted ``entropy.json`` beats uniform).
        device: where the VQ-VAE runs; entropy coding always runs on CPU.

    Raises:
        CheckpointError: not a run dir; FormatError: the run dir lacks ``entropy`` (the
            message says what makes one).
    """
    run_dir = pretrained.resolve(run_dir) if run_dir is not None else PRETRAINED_MNIST
    model = VQVAE.from_pretrained(run_dir, map_location=device)
    try:
        entropy_model = load_entropy_model(model, run_dir, entropy)
    except KeyError as exc:
        if _packaged(run_dir) and entropy in entropy_model_names():
            # "run `vqvae train-prior` on the installed package" would be no help
            raise FormatError(
                f"the shipped model {run_dir.name!r} has no entropy model {entropy!r}"
            ) from None
        raise FormatError(str(exc.args[0])) from None
    return Codec(model, entropy_model, run_dir)


def load_for(
    header: Header, run_dir: str | os.PathLike | None = None, device: str = "cpu"
) -> Codec:
    """The codec that decodes a stream with this header: ``run_dir``'s VQ-VAE (None: the
    shipped model whose fingerprint the header has, else the packaged MNIST model) with the
    entropy model the header names.

    Raises:
        CheckpointError: not a run dir; FormatError: the run dir lacks that entropy model (the
            message names the run to pass when it is the packaged model's).
    """
    if run_dir is None:  # the shipped models of that fingerprint, the first with its coder
        for name in shipped_models_for(header.model_fingerprint):
            try:
                return load(name, header.entropy_name, device)
            except FormatError:
                continue
    try:
        return load(run_dir, header.entropy_name, device)
    except FormatError as exc:
        if not _packaged(run_dir) or header.entropy_name not in entropy_model_names():
            raise
        raise FormatError(f"{exc}: {WRITER_HINT}") from None


def _packaged(run_dir: str | os.PathLike | None) -> bool:
    return run_dir is None or Path(run_dir).resolve().parent == pretrained.ROOT


def shipped_models_for(fingerprint: bytes) -> list[str]:
    """The names of the shipped models with this model fingerprint (several can share one
    VQ-VAE, e.g. with and without a prior)."""
    return [name for name in pretrained.names() if _shipped_fingerprint(name) == fingerprint]


@functools.cache
def _shipped_fingerprint(name: str) -> bytes:
    return model_fingerprint(VQVAE.from_pretrained(name))


# State tensors that only steer training (dead-code detection): not part of a model's identity.
TRAINING_ONLY = frozenset({"recent_usage"})


def model_fingerprint(model: VQVAE) -> bytes:
    """8-byte sha256 prefix of the model's config (canonical JSON) and every state tensor.

    Training-only statistics that coding never reads (``TRAINING_ONLY``) are left out, so
    adding one does not orphan files written before.
    """
    h = hashlib.sha256()
    h.update(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for key, tensor in sorted(model.state_dict().items()):
        if key.rsplit(".", 1)[-1] in TRAINING_ONLY:
            continue
        t = tensor.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.digest()[:8]


def resolve(model, entropy_model: EntropyModel | None) -> tuple[VQVAE, EntropyModel | None]:
    """(VQVAE, entropy model) of what ``compress`` / ``decompress`` were given."""
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load(model)
    if isinstance(model, Codec):
        return model.model, entropy_model or model.entropy_model
    if not isinstance(model, VQVAE):
        raise TypeError(f"model must be a VQVAE, a Codec or a run dir, got {type(model).__name__}")
    return model, entropy_model

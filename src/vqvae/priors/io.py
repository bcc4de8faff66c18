"""The prior's place in a run dir: ``RUN_DIR/prior/config.json`` + ``model.safetensors``.

The config records a fingerprint of the VQ-VAE weights the prior was trained for, so a prior
left behind by a retrained model is refused instead of silently giving bad samples or bits.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from .. import checkpoint
from ..errors import CheckpointError
from .config import PriorConfig
from .transformer import TransformerPrior

PRIOR_DIR = "prior"
_PAIR = (checkpoint.CONFIG_FILE, checkpoint.WEIGHTS_FILE)


def weights_fingerprint(run_dir: str | os.PathLike) -> str:
    """sha256 prefix (16 hex digits) of the run's ``model.safetensors``."""
    path = Path(run_dir) / checkpoint.WEIGHTS_FILE
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found") from None


def has_prior(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / PRIOR_DIR / checkpoint.CONFIG_FILE).is_file()


def save_prior(
    prior: TransformerPrior, run_dir: str | os.PathLike, extra: dict[str, Any] | None = None
) -> Path:
    """Write the prior (unwrapped module) into ``RUN_DIR/prior`` and return that folder."""
    stamp = {"vqvae_fingerprint": weights_fingerprint(run_dir), **(extra or {})}
    return save_prior_folder(prior, Path(run_dir) / PRIOR_DIR, stamp)


def load_prior(run_dir: str | os.PathLike, map_location="cpu") -> TransformerPrior:
    """The run's prior in eval mode; CheckpointError if missing, damaged or for other weights."""
    run_dir = Path(run_dir)
    folder = run_dir / PRIOR_DIR
    if not (folder / checkpoint.CONFIG_FILE).is_file():
        raise CheckpointError(f"{run_dir}: no prior (run `vqvae train-prior {run_dir}` first)")
    return load_prior_folder(folder, weights_fingerprint(run_dir), map_location)


def load_prior_folder(
    folder: str | os.PathLike, fingerprint: str | None = None, map_location="cpu"
) -> TransformerPrior:
    """The prior saved in ``folder`` (config.json + model.safetensors), in eval mode.

    ``fingerprint``: the VQ-VAE weights it must have been trained for (None: not checked).
    """
    folder = Path(folder)
    config = checkpoint.read_run_config(folder, kind="prior")
    if fingerprint is not None and config.get("vqvae_fingerprint") != fingerprint:
        raise CheckpointError(
            f"{folder}: the prior was trained for other VQ-VAE weights; train it again"
        )
    prior = TransformerPrior(PriorConfig.from_dict(config.get("prior", {})))
    checkpoint.load_weights_into(prior, folder / checkpoint.WEIGHTS_FILE)
    return prior.to(map_location).eval()


def save_prior_folder(
    prior: torch.nn.Module,
    folder: str | os.PathLike,
    extra: dict[str, Any] | None = None,
    kind: str = "prior",
    key: str = "prior",
) -> Path:
    """Write ``prior`` (a module with a ``config.to_dict()``) into ``folder`` (config.json of
    that ``kind``, its sizes under ``key``, + model.safetensors) as a pair.

    Both are written into a new hidden folder beside it that then replaces ``folder`` by
    renames, so a kill at any moment leaves the old pair, the new pair or (between the two
    renames) no prior, never the config of one with the weights of the other. Other files of
    the folder (the training log) are carried over.
    """
    folder = Path(folder)
    parent, name = folder.parent, folder.name
    parent.mkdir(parents=True, exist_ok=True)
    config = {**checkpoint.config_header(kind), key: prior.config.to_dict(), **(extra or {})}
    for stale in parent.glob(f".{name}.*.tmp"):  # left by a killed save
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.new.", suffix=".tmp", dir=parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes 0700
        checkpoint.save_weights(staging / checkpoint.WEIGHTS_FILE, prior.state_dict())
        checkpoint.write_json(staging / checkpoint.CONFIG_FILE, config)
        if folder.is_dir():
            for item in folder.iterdir():
                if item.is_file() and item.name not in _PAIR and not item.name.startswith("."):
                    shutil.copy2(item, staging / item.name)
            old = parent / f".{name}.old.{secrets.token_hex(4)}.tmp"
            os.rename(folder, old)
            os.rename(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder

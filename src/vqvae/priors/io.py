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

from .. import __version__, checkpoint
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
    """Write the prior (unwrapped module) into ``RUN_DIR/prior`` and return that folder.

    Config and weights are a pair: both are written into a new hidden folder that then
    replaces ``prior`` by renames, so a kill at any moment leaves the old pair, the new pair
    or (between the two renames) no prior, never the config of one with the weights of the
    other. Other files of the folder (the training log) are carried over.
    """
    run_dir = Path(run_dir)
    folder = run_dir / PRIOR_DIR
    config = {
        "format_version": checkpoint.FORMAT_VERSION,
        "kind": "prior",
        "vqvae_version": __version__,
        "prior": prior.config.to_dict(),
        "vqvae_fingerprint": weights_fingerprint(run_dir),
    }
    config.update(extra or {})
    for stale in run_dir.glob(f".{PRIOR_DIR}.*.tmp"):  # left by a killed save
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{PRIOR_DIR}.new.", suffix=".tmp", dir=run_dir))
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
            old = run_dir / f".{PRIOR_DIR}.old.{secrets.token_hex(4)}.tmp"
            os.rename(folder, old)
            os.rename(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def load_prior(run_dir: str | os.PathLike, map_location="cpu") -> TransformerPrior:
    """The run's prior in eval mode; CheckpointError if missing, damaged or for other weights."""
    run_dir = Path(run_dir)
    folder = run_dir / PRIOR_DIR
    if not (folder / checkpoint.CONFIG_FILE).is_file():
        raise CheckpointError(f"{run_dir}: no prior (run `vqvae train-prior {run_dir}` first)")
    config = checkpoint.read_run_config(folder, kind="prior")
    if config.get("vqvae_fingerprint") != weights_fingerprint(run_dir):
        raise CheckpointError(
            f"{folder}: the prior was trained for other VQ-VAE weights; train it again"
        )
    prior = TransformerPrior(PriorConfig.from_dict(config.get("prior", {})))
    checkpoint.load_weights_into(prior, folder / checkpoint.WEIGHTS_FILE)
    return prior.to(map_location).eval()

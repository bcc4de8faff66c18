"""Run-dir files: config.json + model.safetensors (+ train_state.pt), all written atomically.

Layout of a run dir::

    config.json        {"format_version", "kind": "vqvae", "vqvae_version", "model": {...}, ...}
    model.safetensors  the unwrapped module's state_dict
    train_state.pt     optimizer / RNG / progress for --resume (loaded with weights_only=True)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import CheckpointError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TRAIN_STATE_FILE = "train_state.pt"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then fsync and rename over ``path``: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    atomic_write(path, write)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def save_weights(path: str | os.PathLike, state_dict: dict[str, torch.Tensor]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp))


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: not found")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types on damage
        raise CheckpointError(f"{path}: corrupt or truncated weights ({exc})") from None


def read_run_config(run_dir: str | os.PathLike, kind: str = "vqvae") -> dict[str, Any]:
    """Read and validate ``RUN_DIR/config.json``; raise CheckpointError if it is not a ``kind`` run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: not a run directory")
    config = read_json(run_dir / CONFIG_FILE)
    if config.get("kind") != kind:
        raise CheckpointError(
            f"{run_dir / CONFIG_FILE}: not a {kind} run (kind={config.get('kind')!r})"
        )
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{run_dir / CONFIG_FILE}: unsupported format_version {version!r}")
    return config


def save_train_state(run_dir: str | os.PathLike, state: dict[str, Any]) -> None:
    atomic_write(Path(run_dir) / TRAIN_STATE_FILE, lambda tmp: torch.save(state, tmp))


def load_train_state(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / TRAIN_STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: not found (nothing to resume)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged pickle/zip
        raise CheckpointError(f"{path}: corrupt or truncated training state ({exc})") from None

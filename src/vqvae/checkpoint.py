"""Run-dir files: config.json + model.safetensors (+ train_state.pt), all written atomically.

Layout of a run dir::

    config.json        {"format_version", "kind": "vqvae", "vqvae_version", "model": {...}, ...}
    model.safetensors  the unwrapped module's state_dict
    train_state.pt     model / optimizer / RNG / progress for --resume (weights_only=True)
    train_state.prev.pt  the previous good train_state.pt, kept when a new one is written

A crash (even ``kill -9``) at any moment leaves every file either old or new, never half
written: each is written to a temporary file, fsynced and renamed over the old one (the
temporary ``.NAME.XXXX.tmp`` files a killed writer leaves are removed by the next run).

Run files are never read or written through a symbolic link: a link (or a FIFO, a device)
where a run file should be is a one-line CheckpointError, so a planted ``RUN_DIR/.lock`` or
``metrics.jsonl`` link cannot make a trainer truncate or append to a file elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ._version import __version__
from .errors import CheckpointError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TRAIN_STATE_FILE = "train_state.pt"
PREV_TRAIN_STATE_FILE = "train_state.prev.pt"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then fsync and rename over ``path``: readers see old or new, never half."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file the user asked for, not our temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        # mkstemp makes 0600, and a writer may make its own file (safetensors does): give
        # the result the permissions of any other new file, after it is written
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename in (tmp, str(path)):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
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


def check_not_link(path: str | os.PathLike) -> None:
    """CheckpointError (one line) if ``path`` is a symbolic link or not a regular file; a
    missing file passes (a writer creates it)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CheckpointError(f"{path}: {exc.strerror}") from None
    if stat.S_ISLNK(mode):
        raise CheckpointError(
            f"{path}: is a symbolic link; a run's files must be plain files (remove the link)"
        )
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"{path}: not a regular file; a run's files must be plain files")


def open_run_file(path: str | os.PathLike, flags: int, mode: int = 0o644) -> int:
    """``os.open`` of a run file that refuses a symbolic link at its last component
    (``O_NOFOLLOW``) and anything but a regular file (checked on the opened descriptor, and
    opened non-blocking so a FIFO cannot hang it): CheckpointError, one line."""
    path = Path(path)
    nofollow = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | nofollow | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO) or os.path.islink(path):
            check_not_link(path)
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path}: not a regular file; a run's files must be plain files")
        if nofollow & getattr(os, "O_NONBLOCK", 0):  # back to blocking I/O on the plain file
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line to a run's log file (``metrics.jsonl``), never through a symlink."""
    fd = open_run_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with os.fdopen(fd, "a") as handle:
        handle.write(line if line.endswith("\n") else line + "\n")


def read_run_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a run file, read without following a symlink (CheckpointError if it is one)."""
    fd = open_run_file(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(read_run_bytes(path).decode())
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
    check_not_link(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: not found")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types on damage
        raise CheckpointError(f"{path}: corrupt or truncated weights ({exc})") from None


def load_weights_into(module: torch.nn.Module, path: str | os.PathLike) -> None:
    """Load ``path`` (safetensors) into ``module``; a shape or key mismatch is a CheckpointError."""
    state = load_weights(path)
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match config ({first})") from None


def config_header(kind: str) -> dict[str, Any]:
    """The fields every config.json we write starts with: format version, kind, writer."""
    return {"format_version": FORMAT_VERSION, "kind": kind, "vqvae_version": __version__}


def read_run_config(run_dir: str | os.PathLike, kind: str = "vqvae") -> dict[str, Any]:
    """Read and validate ``RUN_DIR/config.json``; raise CheckpointError if it is not a ``kind`` run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: not a run directory")
    if not (run_dir / CONFIG_FILE).is_file():
        raise CheckpointError(
            f"{run_dir}: not a run directory (it has no {CONFIG_FILE}; `vqvae train` makes one)"
        )
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
    """Write ``train_state.pt`` atomically, keeping the one it replaces as ``train_state.prev.pt``.

    The old file is hard-linked (or copied) to the ``prev`` name before the new one is renamed
    over it, so there is no moment without a complete ``train_state.pt``.
    """
    run_dir = Path(run_dir)
    path, prev = run_dir / TRAIN_STATE_FILE, run_dir / PREV_TRAIN_STATE_FILE
    check_not_link(path)
    if path.is_file():

        def keep(tmp: str) -> None:
            os.unlink(tmp)
            try:
                os.link(path, tmp)
            except OSError:  # no hard links on this filesystem
                shutil.copyfile(path, tmp)

        atomic_write(prev, keep)
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_train_state(run_dir: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read ``train_state.pt``; a missing, damaged or incomplete file is a one-line CheckpointError.

    The message names the file and, where there is one, the previous good checkpoint to
    resume from instead.

    Args:
        run_dir: the run directory.
        required: keys the state must hold.
    """
    run_dir = Path(run_dir)
    path, prev = run_dir / TRAIN_STATE_FILE, run_dir / PREV_TRAIN_STATE_FILE
    fallback = (
        f"; the previous good checkpoint is {prev}: copy it over {path} to resume from it"
        if prev.is_file()
        else ""
    )
    check_not_link(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: not found (nothing to resume){fallback}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged pickle/zip
        reason = _load_failure(exc)
        raise CheckpointError(
            f"{path}: corrupt or truncated training state ({reason}){fallback}"
        ) from None
    missing = [key for key in required if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(
            f"{path}: incomplete training state (missing {', '.join(missing)}){fallback}"
        )
    return state


def _load_failure(exc: BaseException) -> str:
    """One line on why ``torch.load(weights_only=True)`` failed, without torch's advice to
    load with ``weights_only=False`` (which would run whatever code the file holds)."""
    text = str(exc).strip()
    if "weights only load failed" not in text.lower():
        return (text.splitlines() or [type(exc).__name__])[0]
    found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\n\s*\n|$)", text, re.S)
    detail = " ".join(found.group(1).split()) if found else ""
    detail = re.split(r" was not an allowed global| Please use", detail)[0].rstrip(". ")
    return f"not a plain tensor file: {detail}" if detail else "not a plain tensor file"


RUN_TEMP_NAMES = (
    CONFIG_FILE, WEIGHTS_FILE, TRAIN_STATE_FILE, PREV_TRAIN_STATE_FILE, "entropy.json",
)  # fmt: skip


def remove_stale_temp_files(
    run_dir: str | os.PathLike, names: tuple[str, ...] = RUN_TEMP_NAMES
) -> None:
    """Delete temporary files (``.NAME.XXXX.tmp``, plain files only) that a killed writer of
    ``names`` left behind in ``run_dir``."""
    for name in names:
        for tmp in Path(run_dir).glob(f".{glob.escape(name)}.*.tmp"):
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(tmp).st_mode):
                    tmp.unlink()

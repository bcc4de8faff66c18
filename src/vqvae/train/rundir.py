"""Claiming a run directory for training: one trainer at a time, and no trained run
overwritten by accident.

* A new run refuses a directory that already holds one (``config.json`` or
  ``train_state.pt``) unless it resumes it or is told to overwrite it (``--overwrite``: the
  old run's files are removed first, so nothing of the old model is mixed into the new one).
* While a process trains into a directory it holds an advisory lock on ``RUN_DIR/.lock``
  (``fcntl.flock``, which the kernel releases when the process dies, even by ``kill -9``),
  with its pid in the file; a second trainer refuses with one line naming that pid.
* A symbolic link (or anything but a plain file) where a run file should be is refused with
  one line before anything is written: the lock file and the log are opened with
  ``O_NOFOLLOW`` and the other files are replaced by rename, never written through.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .. import checkpoint
from ..errors import CheckpointError

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks; run dirs are then not locked
    fcntl = None

LOCK_FILE = ".lock"
# What a run dir holds; --overwrite removes these (and nothing else a user put there).
RUN_FILES = (
    checkpoint.CONFIG_FILE, checkpoint.WEIGHTS_FILE, checkpoint.TRAIN_STATE_FILE,
    checkpoint.PREV_TRAIN_STATE_FILE, "metrics.jsonl", "entropy.json",
)  # fmt: skip
RUN_FOLDERS = ("prior", "rate_prior", "codes", "tb")


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` already holds a (possibly unfinished) run."""
    return any((run_dir / name).exists() for name in (checkpoint.CONFIG_FILE,
                                                       checkpoint.TRAIN_STATE_FILE))  # fmt: skip


def check_run_files(run_dir: Path) -> None:
    """CheckpointError (one line) if a run file in ``run_dir`` is a symbolic link or not a
    plain file."""
    for name in (LOCK_FILE, *RUN_FILES):
        checkpoint.check_not_link(run_dir / name)


def check_new_run(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to start a new run over an existing one, or in a run dir whose files are
    symbolic links (CheckpointError, one line)."""
    check_run_files(run_dir)
    if resume or overwrite or not holds_run(run_dir):
        return
    raise CheckpointError(
        f"{run_dir} already holds a run; pass --resume to continue it or --overwrite to "
        "replace it (or choose another --out)"
    )


def clear_run(run_dir: Path) -> None:
    """Remove an old run's files (for ``--overwrite``), keeping anything else."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(run_dir / name, ignore_errors=True)


_HELD_LOCKS: set[int] = set()


def _close_held_locks() -> None:
    """In a forked child (a data loader worker): close the inherited lock descriptors, so
    the lock goes with the trainer (closing a copy does not release the parent's lock)."""
    for fd in _HELD_LOCKS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_locks)


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold ``RUN_DIR/.lock`` for the block; CheckpointError if another process holds it."""
    if fcntl is None:
        yield
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    check_run_files(run_dir)
    path = run_dir / LOCK_FILE
    fd = checkpoint.open_run_file(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            raise CheckpointError(
                f"{run_dir} is being trained by another process (pid {holder}, lock {path}); "
                "wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD_LOCKS.add(fd)
        try:
            yield  # the file stays: without a holder it blocks nobody
        except BaseException:
            if created:  # a run that failed before writing anything leaves no folder behind
                path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    run_dir.rmdir()  # only if nothing else was written
            raise
    finally:
        _HELD_LOCKS.discard(fd)
        os.close(fd)

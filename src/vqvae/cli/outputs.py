"""Output files of the commands that turn files into files (``compress``, ``decompress``),
the way gzip and zstd name them.

* No ``-o`` / ``--out-dir``: each output goes beside its input (``photo.png`` ->
  ``photo.png.vqz``; ``photo.png.vqz`` -> ``photo.png``).
* ``-o PATH``: the one output file (one input only); ``--out-dir DIR``: the outputs go into DIR
  under the names they would have beside their inputs.
* An existing file is never replaced without ``-f/--force``, and an output is never one of the
  inputs, nor two outputs the same file (even with ``--force``). Every output is checked
  before any work starts, and written atomically (no half-written file after a crash).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import VQVAEError


def add_output_arguments(p: argparse.ArgumentParser, one: str, beside: str) -> None:
    """``-o/--output``, ``--out-dir`` and ``-f/--force`` (``args.output``, ``args.out_dir``,
    ``args.force``). ``one``: the metavar of ``-o``; ``beside``: what an output is named."""
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar=one, help="the output file (one input only)")
    out.add_argument(
        "--out-dir",
        metavar="DIR",
        help=f"write the outputs into DIR (created if missing), named as beside their inputs. "
        f"Without -o or --out-dir each output goes beside its input: {beside}",
    )
    p.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="replace output files that exist (never one of the inputs)",
    )


def add_force_argument(p: argparse.ArgumentParser) -> None:
    """``-f/--force`` (``args.force``) of a command whose outputs are named for it."""
    p.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="replace output files that exist (never one of the inputs)",
    )


def plan_outputs(
    args: argparse.Namespace, inputs: Sequence[str], names: Sequence[str]
) -> list[Path]:
    """The output path of each input, checked (VQVAEError, one line): none is an input or a
    folder, no two are the same, none exists unless ``args.force``.

    Args:
        args: with ``output``, ``out_dir`` and ``force``.
        inputs: the input files.
        names: each output's file name beside its input (the file name only).
    """
    if args.output is not None and len(inputs) > 1:
        raise VQVAEError(f"-o takes one input file, got {len(inputs)}; use --out-dir DIR")
    if args.output is not None:
        targets = [Path(args.output)]
    elif args.out_dir is not None:
        folder = Path(args.out_dir)
        if folder.exists() and not folder.is_dir():
            raise VQVAEError(f"--out-dir {folder}: exists and is not a folder")
        targets = [folder / name for name in _unique(inputs, names)]
    else:
        targets = [Path(path).with_name(name) for path, name in zip(inputs, names, strict=True)]
    check_targets(targets, inputs, args.force)
    return targets


def _unique(inputs: Sequence[str], names: Sequence[str]) -> list[str]:
    """Names for one folder: prefixed with the input's index when two inputs share one."""
    if len(set(names)) == len(names):
        return list(names)
    return [f"{i:04d}_{name}" for i, name in enumerate(names)]


def check_targets(targets: Sequence[Path], inputs: Sequence[str], force: bool) -> None:
    """VQVAEError (one line) if an output is an input, a folder, repeated, or exists while
    ``force`` is off."""
    sources = {_identity(p) for p in inputs}
    seen: set = set()
    for target in targets:
        key = _identity(target)
        if key in sources:
            raise VQVAEError(f"{target}: is one of the inputs; choose another output")
        if key in seen:
            raise VQVAEError(f"{target}: two inputs would be written to the same file")
        seen.add(key)
        if os.path.isdir(target):
            raise VQVAEError(f"{target}: is a folder; name a file, or use --out-dir")
        if os.path.lexists(target) and not force:
            raise VQVAEError(f"{target}: exists; pass -f/--force to replace it")


def _identity(path: str | os.PathLike):
    """What makes two paths the same file: device and inode when it exists, else the
    resolved path."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return os.path.realpath(path)


def write_output(target: Path, write: Callable[[Path], None] | bytes, force: bool) -> None:
    """Write one output atomically: ``write(path)`` (or the bytes) into a private temporary
    folder beside ``target``, then rename it into place (``force``) or link it there, which
    fails if a file appeared since the check: an existing file is never replaced without
    ``force``. Temporary files a killed earlier write to ``target`` left are removed first."""
    if isinstance(write, bytes):
        data = write
        write = lambda path: path.write_bytes(data)  # noqa: E731
    folder = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(target)
        folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        staged = folder / target.name
        write(staged)
        if force:
            os.replace(staged, target)
        else:
            _link_new(staged, target)
    except OSError as exc:  # name the file the user asked for, not our temporary one
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _link_new(staged: Path, target: Path) -> None:
    exists = VQVAEError(f"{target}: exists; pass -f/--force to replace it")
    try:
        os.link(staged, target)
    except FileExistsError:
        raise exists from None
    except OSError:  # no hard links on this filesystem: check, then rename
        if os.path.lexists(target):
            raise exists from None
        os.replace(staged, target)


def _remove_stale(target: Path) -> None:
    """Remove ``.NAME.XXXX.tmp`` files and folders a killed write of ``target`` left."""
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            elif leftover.is_file() and not leftover.is_symlink():
                leftover.unlink()


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 image``, ``2 images`` (``many``: an irregular plural)."""
    return f"{n} {word if n == 1 else many or word + 's'}"

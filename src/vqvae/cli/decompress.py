"""``vqvae decompress``: ``.vqz`` files back to images and sound (WAV)."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from ..codec import AudioHeader, Header, decompress, load_for, read_header
from ..codec.stream import check_size
from ..data import save_image
from ..data.audio import AUDIO_EXTENSIONS, write_audio
from ..device import resolve_device
from ..errors import DataError, VQVAEError
from ..limits import MAX_VQZ_BYTES
from ..media.image import IMAGE_EXTENSIONS
from .common import DEVICES, add_max_pixels, add_max_seconds, add_postfilter
from .outputs import add_output_arguments, plan_outputs, plural, write_output


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "decompress",
        help="decode .vqz files into images or sound",
        description="Decode .vqz files with the model that wrote them: --model RUN_DIR or a "
        "shipped model's name; by default the shipped model whose fingerprint the file carries. "
        "Images are written as PNG, speech as 16-bit WAV at the model's rate, named like "
        "gzip -d: photo.png.vqz -> photo.png, speech.vqz -> speech.wav (beside the file, or "
        "in --out-dir DIR; -o OUT for one file); an existing file is replaced only with -f.",
    )
    p.add_argument("files", metavar="FILE.vqz", nargs="+", help=".vqz files from vqvae compress")
    add_output_arguments(p, "OUT", "photo.png.vqz -> photo.png, speech.vqz -> speech.wav")
    p.add_argument(
        "--model",
        metavar="RUN_DIR|NAME",
        default=None,
        help="the run directory written by vqvae train, or the shipped model's name (vqvae "
        "models), that wrote the files (default: the shipped model whose fingerprint the "
        "file carries)",
    )
    p.add_argument("--device", default="auto", help=f"where the decoder runs: {DEVICES}")
    add_max_pixels(p, "to decode images")
    add_max_seconds(p, "sound")
    add_postfilter(p)
    p.set_defaults(run=run)


def read_vqz(path: str, limit: int = MAX_VQZ_BYTES) -> bytes:
    """The bytes of a .vqz file: a regular file of at most ``limit`` bytes, checked before it
    is read (a FIFO, a device such as /dev/zero or a huge file is a one-line DataError)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO cannot hang
    except FileNotFoundError:
        raise DataError(f"{path}: not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a .vqz file") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise DataError(f"{path}: is a folder, not a .vqz file")
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path}: not a regular file (a pipe or a device), not a .vqz file")
        if info.st_size > limit:
            raise DataError(
                f"{path}: {info.st_size} bytes, over the {limit >> 20} MiB a .vqz file can be"
            )
        os.set_blocking(fd, True)
        data = handle.read(limit + 1)  # a file that grew meanwhile stops at the limit
    if len(data) > limit:
        raise DataError(f"{path}: over the {limit >> 20} MiB a .vqz file can be")
    return data


# What each kind of stream decodes to: the output's suffix and how it is written.
SUFFIX = {Header: ".png", AudioHeader: ".wav"}
WHAT = {Header: "image", AudioHeader: "sound"}


def decoded_name(path: str, suffix: str) -> str:
    """The output's name beside ``path``, as gzip -d names it: ``.vqz`` dropped
    (``photo.png.vqz`` -> ``photo.png``); ``suffix`` (.png, .wav) replaces another image or
    sound suffix (``photo.jpg.vqz`` -> ``photo.png``) or is added (``x.vqz`` -> ``x.png``)."""
    name = Path(path).name
    base = name[:-4] if name.lower().endswith(".vqz") and len(name) > 4 else name
    stem, ext = os.path.splitext(base)
    if ext.lower() == suffix:
        return base
    if ext.lower() in (*IMAGE_EXTENSIONS, *AUDIO_EXTENSIONS):
        return stem + suffix
    return base + suffix


def _write(target: Path, item) -> None:
    """Write a decoded image (PIL) or sound ``(samples, rate)``."""
    if isinstance(item, tuple):
        write_audio(target, *item)
    else:
        save_image(item, target)  # the decoded PIL image, written without a copy


def _header(path: str, data: bytes, args: argparse.Namespace):
    """The stream's header, checked against the limits; errors name the file."""
    try:
        header = read_header(data)
        check_size(header, args.max_pixels, args.max_seconds)  # before any model is loaded
    except VQVAEError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    suffix = SUFFIX[type(header)]
    if args.output is not None and suffix == ".wav" and Path(args.output).suffix.lower() != suffix:
        raise DataError(f"{path}: speech decodes to a WAV file: -o {args.output} is not .wav")
    return header


def _decode_one(path: str, data: bytes, header, args: argparse.Namespace, codecs: dict, device):
    """The decoded item of one file; errors name the file."""
    try:
        key = (header.model_fingerprint, header.entropy_name)
        if key not in codecs:
            codecs[key] = load_for(header, args.model, device)
        options = {"max_pixels": args.max_pixels, "max_seconds": args.max_seconds}
        if isinstance(header, AudioHeader):
            options["postfilter"] = args.postfilter  # None: the decoder's default
        return decompress(data, codecs[key], **options)
    except VQVAEError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.output is not None and len(args.files) > 1:
        raise VQVAEError(f"-o takes one input file, got {len(args.files)}; use --out-dir DIR")
    device = resolve_device(args.device)  # a bad flag first, before any file is read
    blobs = [read_vqz(path) for path in args.files]
    headers = [_header(path, data, args) for path, data in zip(args.files, blobs, strict=True)]
    kinds = [type(header) for header in headers]
    names = [decoded_name(p, SUFFIX[k]) for p, k in zip(args.files, kinds, strict=True)]
    targets = plan_outputs(args, args.files, names)  # none is an input, none exists without -f
    codecs: dict = {}
    # decode everything first: no output file on any error
    decoded = [
        _decode_one(path, data, header, args, codecs, device)
        for path, data, header in zip(args.files, blobs, headers, strict=True)
    ]
    for target, item in zip(targets, decoded, strict=True):
        write_output(target, lambda path, item=item: _write(path, item), args.force)
    where = targets[0] if len(targets) == 1 else (args.out_dir or "beside the files")
    counts = [plural(kinds.count(kind), WHAT[kind]) for kind in SUFFIX if kind in kinds]
    print(f"wrote {' and '.join(counts)} to {where}")
    return 0

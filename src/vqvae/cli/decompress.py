"""``vqvae decompress``: ``.vqz`` files back to images and sound (WAV)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..codec import AudioHeader, Header, decompress, load_for, read_header
from ..codec.stream import check_size
from ..data import save_image
from ..data.audio import write_audio
from ..device import resolve_device
from ..errors import DataError, VQVAEError
from .common import add_max_pixels, add_max_seconds, unique_stems


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "decompress",
        help="decode .vqz files into images or sound",
        description="Decode .vqz files with the model that wrote them: --model RUN_DIR or a "
        "shipped model's name; by default the shipped model whose fingerprint the file carries. "
        "Images are written as PNG, speech as 16-bit WAV at the model's rate.",
    )
    p.add_argument("files", metavar="FILE.vqz", nargs="+", help=".vqz files from vqvae compress")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument(
        "-o", "--output", metavar="OUT", help="output file (one .vqz): OUT.png, or OUT.wav"
    )
    out.add_argument("--out-dir", metavar="DIR", help="write DIR/<file stem>.png (.wav for speech)")
    p.add_argument(
        "--model",
        metavar="RUN_DIR|NAME",
        default=None,
        help="the run (or shipped model) that wrote the files (default: the shipped model "
        "whose fingerprint the file carries)",
    )
    p.add_argument("--device", default="cpu", help="where the decoder runs")
    add_max_pixels(p, "to decode images")
    add_max_seconds(p, "sound")
    p.set_defaults(run=run)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a .vqz file") from None


# What each kind of stream decodes to: the output's suffix and how it is written.
SUFFIX = {Header: ".png", AudioHeader: ".wav"}
WHAT = {Header: "image", AudioHeader: "sound"}


def _write(target: Path, item) -> None:
    """Write a decoded image (PIL) or sound ``(samples, rate)``."""
    if isinstance(item, tuple):
        write_audio(target, *item)
    else:
        save_image(_to_tensor(item), target)


def _decode_one(path: str, args: argparse.Namespace, codecs: dict, device):
    """(header kind, decoded item) of one file; errors name the file."""
    data = _read(path)
    try:
        header = read_header(data)
        check_size(header, args.max_pixels, args.max_seconds)  # before any model is loaded
        suffix = SUFFIX[type(header)]
        if args.output is not None and Path(args.output).suffix.lower() != suffix:
            if suffix == ".wav":
                raise DataError(f"speech decodes to a WAV file: -o {args.output} is not .wav")
        key = (header.model_fingerprint, header.entropy_name)
        if key not in codecs:
            codecs[key] = load_for(header, args.model, device)
        limits = {"max_pixels": args.max_pixels, "max_seconds": args.max_seconds}
        return type(header), decompress(data, codecs[key], **limits)
    except VQVAEError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.output is not None and len(args.files) > 1:
        raise VQVAEError(f"-o takes one file, got {len(args.files)}; use --out-dir")
    device = resolve_device(args.device)
    codecs: dict = {}
    # decode everything first: no output file on any error
    decoded = [_decode_one(path, args, codecs, device) for path in args.files]
    if args.output is not None:
        targets = [Path(args.output)]
    else:
        stems = unique_stems(args.files)
        targets = [
            Path(args.out_dir) / f"{s}{SUFFIX[kind]}"
            for s, (kind, _) in zip(stems, decoded, strict=True)
        ]
    for target, (_, item) in zip(targets, decoded, strict=True):
        _write(target, item)
    where = targets[0] if len(targets) == 1 else args.out_dir
    counts = {kind: sum(k is kind for k, _ in decoded) for kind in SUFFIX}
    kinds = [f"{n} {WHAT[kind]}(s)" for kind, n in counts.items() if n]
    print(f"wrote {' and '.join(kinds)} to {where}")
    return 0


def _to_tensor(img):
    import numpy as np
    import torch

    a = np.asarray(img, dtype=np.uint8)
    a = a[:, :, None] if a.ndim == 2 else a
    return torch.from_numpy(a.copy()).permute(2, 0, 1)

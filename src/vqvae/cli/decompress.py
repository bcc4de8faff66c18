"""``vqvae decompress``: ``.vqz`` files back to images and sound (WAV)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..codec import (
    AudioHeader,
    FormatError,
    decompress,
    decompress_audio,
    load_for,
    read_header,
)
from ..data import save_image
from ..data.audio import write_audio
from ..device import resolve_device
from ..errors import DataError, VQVAEError
from ..limits import check_audio_seconds
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


def run(args: argparse.Namespace) -> int:
    if args.output is not None and len(args.files) > 1:
        raise VQVAEError(f"-o takes one file, got {len(args.files)}; use --out-dir")
    device = resolve_device(args.device)
    codecs = {}
    decoded = []  # PIL images, or (samples, rate) of sounds
    for path in args.files:  # decode everything first: no output file on any error
        data = _read(path)
        try:
            header = read_header(data)
            if isinstance(header, AudioHeader):  # the length it claims, before any model
                check_audio_seconds(
                    header.samples, header.sample_rate, args.max_seconds, "the audio", FormatError
                )
            key = (header.model_fingerprint, header.entropy_name)
            if key not in codecs:
                codecs[key] = load_for(header, args.model, device)
            if isinstance(header, AudioHeader):
                if args.output is not None and Path(args.output).suffix.lower() != ".wav":
                    raise DataError(f"speech decodes to a WAV file: -o {args.output} is not .wav")
                decoded.append(decompress_audio(data, codecs[key], max_seconds=args.max_seconds))
            else:
                decoded.append(decompress(data, codecs[key], max_pixels=args.max_pixels))
        except VQVAEError as exc:
            raise type(exc)(f"{path}: {exc}") from None
    if args.output is not None:
        targets = [Path(args.output)]
    else:
        targets = [
            Path(args.out_dir) / f"{stem}{'.wav' if isinstance(item, tuple) else '.png'}"
            for stem, item in zip(unique_stems(args.files), decoded, strict=True)
        ]
    for target, item in zip(targets, decoded, strict=True):
        if isinstance(item, tuple):
            write_audio(target, *item)
        else:
            save_image(_to_tensor(item), target)
    where = targets[0] if len(targets) == 1 else args.out_dir
    sounds = sum(isinstance(item, tuple) for item in decoded)
    kinds = [f"{len(decoded) - sounds} image(s)"] * (sounds < len(decoded))
    kinds += [f"{sounds} sound(s)"] * (sounds > 0)
    print(f"wrote {' and '.join(kinds)} to {where}")
    return 0


def _to_tensor(img):
    import numpy as np
    import torch

    a = np.asarray(img, dtype=np.uint8)
    a = a[:, :, None] if a.ndim == 2 else a
    return torch.from_numpy(a.copy()).permute(2, 0, 1)

"""``vqvae decompress``: ``.vqz`` files back to images."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..codec import decompress, load_for, read_header
from ..data import save_image
from ..device import resolve_device
from ..errors import DataError, VQVAEError
from .common import add_max_pixels, unique_stems


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "decompress",
        help="decode .vqz files into images",
        description="Decode .vqz files with the model that wrote them: --model RUN_DIR or a "
        "shipped model's name; by default the shipped model whose fingerprint the file carries.",
    )
    p.add_argument("files", metavar="FILE.vqz", nargs="+", help=".vqz files from vqvae compress")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", metavar="OUT.png", help="output image (one file)")
    out.add_argument("--out-dir", metavar="DIR", help="write DIR/<file stem>.png")
    p.add_argument(
        "--model",
        metavar="RUN_DIR|NAME",
        default=None,
        help="the run (or shipped model) that wrote the files (default: the shipped model "
        "whose fingerprint the file carries)",
    )
    p.add_argument("--device", default="cpu", help="where the decoder runs")
    add_max_pixels(p, "to decode images")
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
    images = []
    for path in args.files:  # decode everything first: no output file on any error
        data = _read(path)
        try:
            header = read_header(data)
            name = header.entropy_name
            if name not in codecs:
                codecs[name] = load_for(header, args.model, device)
            images.append(decompress(data, codecs[name], max_pixels=args.max_pixels))
        except VQVAEError as exc:
            raise type(exc)(f"{path}: {exc}") from None
    if args.output is not None:
        targets = [Path(args.output)]
    else:
        targets = [Path(args.out_dir) / f"{stem}.png" for stem in unique_stems(args.files)]
    for target, img in zip(targets, images, strict=True):
        save_image(_to_tensor(img), target)
    where = targets[0] if len(targets) == 1 else args.out_dir
    print(f"wrote {len(images)} image(s) to {where}")
    return 0


def _to_tensor(img):
    import numpy as np
    import torch

    a = np.asarray(img, dtype=np.uint8)
    a = a[:, :, None] if a.ndim == 2 else a
    return torch.from_numpy(a.copy()).permute(2, 0, 1)

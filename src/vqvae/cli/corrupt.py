"""``vqvae corrupt``: write seeded noisy / occluded copies of images (test inputs for denoise)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..corruptions import corrupt, parse_corruption
from ..data import load_image, save_image
from ..errors import DataError
from .common import SEED, add_max_pixels, add_out_dir, unique_stems
from .outputs import add_force_argument, check_targets, plural


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "corrupt",
        help="add seeded noise or occlusions to images",
        description="Write corrupted copies of images as OUT_DIR/STEM.png. Image i is corrupted "
        "with a generator seeded by (SEED, i), so the same command writes the same files.",
    )
    p.add_argument("images", metavar="IMAGE", nargs="+", help="images to corrupt")
    p.add_argument(
        "--noise",
        required=True,
        metavar="SPEC",
        help="gaussian:SIGMA, saltpepper:RATE or mask:FRACTION (e.g. gaussian:0.5)",
    )
    p.add_argument("--seed", type=SEED, default=0, help="seed of the corruptions")
    add_out_dir(p, "folder to write the corrupted images into")
    add_force_argument(p)
    add_max_pixels(p, "images")
    p.set_defaults(run=run)


def output_paths(inputs: list[str], out_dir: str, force: bool = False) -> list[Path]:
    """OUT_DIR/STEM.png per input, refusing to overwrite one of the inputs, or (without
    ``force``) a file that exists."""
    paths = [Path(out_dir) / f"{stem}.png" for stem in unique_stems(inputs)]
    sources = {Path(p).resolve() for p in inputs}
    for path in paths:
        if path.resolve() in sources:
            raise DataError(f"{path} would overwrite an input image; choose another --out-dir")
    check_targets(paths, inputs, force)
    return paths


def run(args: argparse.Namespace) -> int:
    spec = parse_corruption(args.noise)
    images = [  # all first: fail before writing
        load_image(p, max_pixels=args.max_pixels).float().div(255).unsqueeze(0) for p in args.images
    ]
    paths = output_paths(args.images, args.out_dir, args.force)
    for i, (x, path) in enumerate(zip(images, paths, strict=True)):
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + i)
        save_image(corrupt(x, spec, generator)[0], path)
    print(
        f"wrote {plural(len(images), 'image')} corrupted with {spec} (seed {args.seed}) to {args.out_dir}"
    )
    return 0

"""``vqvae denoise``: restore images by projecting them through a run's codebook."""

from __future__ import annotations

import argparse

from ..data import save_image
from ..denoise import denoise
from ..errors import VQVAEError
from ..runs import Run
from .common import (
    DEVICE_HELP,
    RUN_DIR_HELP,
    add_max_pixels,
    add_out_dir,
    int_range,
    load_images_for,
)
from .corrupt import output_paths
from .outputs import add_force_argument, plural

# Each iteration is one more encode + decode; the output stops changing after a few.
MAX_ITERATIONS = 100


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "denoise",
        help="restore noisy images with a trained model",
        description="Encode each image, snap its latents to the codebook and decode, writing "
        "OUT_DIR/STEM.png. Works with any run; one trained with --train-noise is a denoiser.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=RUN_DIR_HELP)
    p.add_argument("images", metavar="IMAGE", nargs="+", help="images to restore")
    add_out_dir(p, "folder to write the restored images into")
    add_force_argument(p)
    p.add_argument(
        "--iterations",
        type=int_range(0, MAX_ITERATIONS),
        default=0,
        help=f"extra re-projections of the output, 0 to {MAX_ITERATIONS} (default 0)",
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_max_pixels(p, "images")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.iterations < 0:
        raise VQVAEError(f"--iterations must be >= 0, got {args.iterations}")
    run = Run(args.run_dir, args.device)
    model, device = run.model, run.device
    images = load_images_for(model, args.images, args.max_pixels)  # all first: fail before writing
    paths = output_paths(args.images, args.out_dir, args.force)
    for x, path in zip(images, paths, strict=True):
        x_hat = denoise(model, x.to(device), iterations=args.iterations)
        save_image(x_hat[0].cpu(), path)
    print(f"wrote {plural(len(images), 'denoised image')} to {args.out_dir}")
    return 0

"""``vqvae sample``: draw code maps from the run's prior and decode them into an image grid."""

from __future__ import annotations

import argparse
import time

import torch

from ..data import save_image
from ..priors import load_prior, sample
from ..visualize import image_grid
from .common import MAX_SAMPLES, SEED, finite_float, int_range, load_model
from .prior_common import check_sampling_args, parse_label, single_threaded


def register(subparsers) -> None:
    p = subparsers.add_parser("sample", help="sample images from the prior", description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-n", type=int_range(1, MAX_SAMPLES), default=64, help="number of samples")
    p.add_argument("--label", type=int, default=None, help="class to sample (conditional prior)")
    p.add_argument("--temperature", type=finite_float, default=1.0)
    p.add_argument("--top-k", type=int_range(1), default=None)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("-o", "--output", required=True, metavar="GRID.png")
    p.set_defaults(run=run)


@single_threaded
def run(args: argparse.Namespace) -> int:
    check_sampling_args(args.temperature, args.top_k, args.n)
    model = load_model(args.run_dir, "cpu")
    prior = load_prior(args.run_dir)
    label = parse_label(args.label, prior.config.num_classes)
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(args.seed)
    indices = sample(
        prior,
        args.n,
        labels=label,
        temperature=args.temperature,
        top_k=args.top_k,
        generator=generator,
    )
    with torch.no_grad():
        x = model.decode(indices).clamp(0, 1)
    h, w = model.config.image_size
    x = x[..., :h, :w]
    save_image(image_grid(list(x)), args.output)
    print(f"wrote {args.n} samples to {args.output} ({time.perf_counter() - started:.1f} s)")
    return 0

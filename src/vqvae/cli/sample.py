"""``vqvae sample``: draw code maps from the run's prior and decode them into an image grid."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ..data import save_image
from ..priors import sample
from ..runs import Run
from ..visualize import image_grid
from .common import (
    DEVICES,
    MAX_SAMPLES,
    PRIOR_RUN_HELP,
    add_sampling_arguments,
    check_sampling_args,
    int_range,
    parse_label,
    single_threaded,
)
from .outputs import add_force_argument, check_targets, plural


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sample",
        help="sample images from the prior",
        description="Draw code maps from the run's prior (vqvae train-prior), one code at a "
        "time, decode them with its model and write them as one image grid.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=PRIOR_RUN_HELP)
    p.add_argument("-n", type=int_range(1, MAX_SAMPLES), default=64, help="number of samples")
    p.add_argument("--label", type=int, default=None, help="class to sample (conditional prior)")
    add_sampling_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="GRID.png", help="image file to write")
    add_force_argument(p)
    p.add_argument("--device", default="auto", help=f"where the prior and model run: {DEVICES}")
    p.set_defaults(run=run)


@single_threaded
def run(args: argparse.Namespace) -> int:
    check_sampling_args(args.temperature, args.top_k, args.n)
    check_targets([Path(args.output)], [], args.force)  # before any work
    run = Run(args.run_dir, args.device)
    model, prior = run.model, run.prior.to(run.device)
    label = parse_label(args.label, prior.config.num_classes)
    started = time.perf_counter()
    generator = torch.Generator(run.device).manual_seed(args.seed)
    indices = sample(
        prior,
        args.n,
        labels=label,
        temperature=args.temperature,
        top_k=args.top_k,
        generator=generator,
    )
    with torch.no_grad():
        x = model.decode(indices).clamp(0, 1).cpu()
    h, w = model.config.image_size
    x = x[..., :h, :w]
    save_image(image_grid(list(x)), args.output)
    print(
        f"wrote {plural(args.n, 'sample')} to {args.output} ({time.perf_counter() - started:.1f} s)"
    )
    return 0

"""``vqvae eval-prior``: the prior's negative log-likelihood on a dataset split's codes."""

from __future__ import annotations

import argparse
import json

from ..runs import Run
from ..train.prior import evaluate_prior
from .common import DEVICES, PRIOR_RUN_HELP


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval-prior",
        help="bits per code / image / dim of the prior",
        description="The negative log-likelihood of the run's prior on a dataset split's code "
        "maps, in bits per code, per image and per image dimension.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=PRIOR_RUN_HELP)
    p.add_argument(
        "--codes",
        default=None,
        metavar="CODES_DIR",
        help="code maps from vqvae encode-dataset (default: RUN_DIR/codes, encoded if missing)",
    )
    p.add_argument("--split", choices=["train", "test"], default="test", help="which split")
    p.add_argument(
        "--labels", action="store_true", help="condition on the true labels (default: none)"
    )
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.add_argument("--device", default="auto", help=f"where the prior and model run: {DEVICES}")
    p.set_defaults(run=run)


def evaluate_run(
    run_dir: str,
    codes_dir: str | None = None,
    split: str = "test",
    labels=False,
    device: str = "cpu",
):
    """{"bits_per_code", "bits_per_image", "bits_per_dim"} of the run's prior on ``split``."""
    run = Run(run_dir, device)
    prior = run.prior.to(run.device)
    codes = run.codes(split, codes_dir, log=lambda _: None)
    bits = evaluate_prior(prior, codes, use_labels=labels and prior.config.num_classes > 0)
    h, w = codes.shape
    height, width = run.model.config.image_size
    dims = run.model.config.in_channels * height * width
    return {"bits_per_code": bits / (h * w), "bits_per_image": bits, "bits_per_dim": bits / dims}


def run(args: argparse.Namespace) -> int:
    result = evaluate_run(args.run_dir, args.codes, args.split, args.labels, args.device)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>15}: {value:.6g}")
    return 0

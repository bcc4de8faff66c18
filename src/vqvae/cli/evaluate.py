"""``vqvae eval``: distortion and code-usage metrics of a trained model on a dataset split."""

from __future__ import annotations

import argparse
import json

from ..evaluation import evaluate
from ..runs import Run
from .common import BATCH_SIZE, DEVICE_HELP, RUN_DIR_HELP, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a trained model",
        description="Reconstruct a dataset split with the run's model and print distortion "
        "(MSE, NMSE, PSNR, SSIM) and code-usage metrics (perplexity, usage, bits per code); "
        "for an audio model, of whole clips: SNR, log-spectral distance (lsd, dB), PESQ-NB, "
        "STOI and bits per second (before entropy coding).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=RUN_DIR_HELP)
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument(
        "--data-dir", default=None, help="folder holding the dataset's files (default: the run's)"
    )
    p.add_argument("--split", default="test", choices=["train", "test"], help="which split")
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N images")
    p.add_argument("--batch-size", type=BATCH_SIZE, default=256, help="images per batch")
    p.add_argument(
        "--stages",
        type=positive_int,
        default=None,
        help="audio (residual VQ): decode with only the first K stages, a lower bitrate "
        "(default: all)",
    )
    p.add_argument(
        "--fid",
        action="store_true",
        help="images: also ms_ssim (5-scale MS-SSIM, fewer scales on small images) and "
        "fd_vqvae, a Fréchet distance between the real and reconstructed images' features in "
        "the project's own CIFAR-10 classifier (gray replicated to RGB, resized to 32x32); "
        "not Inception FID",
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run = Run(args.run_dir, args.device)
    dataset = run.dataset(args.split, args.dataset, args.data_dir, args.limit)
    result = evaluate(run.model, dataset, args.batch_size, run.device, args.stages, args.fid)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>14}: {value:.6g}")
    return 0

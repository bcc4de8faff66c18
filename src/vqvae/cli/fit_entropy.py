"""``vqvae fit-entropy``: fit a run's static code distribution (``RUN_DIR/entropy.json``)."""

from __future__ import annotations

import argparse

import torch

from ..entropy.tables import StaticEntropyModel, fit_counts
from ..progress import track
from ..runs import Run
from .common import BATCH_SIZE, DEVICE_HELP, RUN_DIR_HELP, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit-entropy",
        help="fit the static code distribution that compress uses",
        description="Count the codes of the run's training set and write RUN_DIR/entropy.json.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=RUN_DIR_HELP)
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument(
        "--data-dir", default=None, help="folder holding the dataset's files (default: the run's)"
    )
    p.add_argument(
        "--limit", type=positive_int, default=None, help="only the first N training images"
    )
    p.add_argument("--batch-size", type=BATCH_SIZE, default=256, help="images per encoder batch")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run = Run(args.run_dir, args.device)
    dataset = run.dataset("train", args.dataset, args.data_dir, args.limit)
    device = run.device
    order = torch.arange(len(dataset))
    batches = (
        dataset.batch(order[i : i + args.batch_size]).to(device)
        for i in range(0, len(dataset), args.batch_size)
    )
    batches = track(batches, -(-len(dataset) // args.batch_size), "counting codes", "batch")
    counts = fit_counts(run.model, batches)
    static = StaticEntropyModel(counts)
    static.save(args.run_dir, {"dataset": dataset.name, "images": len(dataset)})
    p = counts / max(1, counts.sum())
    nz = p[p > 0]
    entropy_bits = float(-(nz * torch.log2(torch.from_numpy(nz)).numpy()).sum())
    print(
        f"wrote {args.run_dir}/entropy.json: {len(dataset)} images, {int(counts.sum())} codes, "
        f"{int((counts > 0).sum())}/{len(counts)} used, {entropy_bits:.3f} bits/code"
    )
    return 0

"""``vqvae fit-entropy``: fit a run's static code distribution (``RUN_DIR/entropy.json``)."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ..data.audio import load_audio_dataset
from ..entropy.stages import StageEntropyModel, fit_stage_counts
from ..entropy.tables import StaticEntropyModel, fit_counts
from ..models import is_audio
from ..progress import track
from ..runs import Run
from .common import BATCH_SIZE, DEVICE_HELP, WRITTEN_RUN_HELP, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit-entropy",
        help="fit the static code distribution that compress uses",
        description="Count the codes of the run's training set and write RUN_DIR/entropy.json.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=WRITTEN_RUN_HELP)
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument(
        "--data-dir", default=None, help="folder holding the dataset's files (default: the run's)"
    )
    p.add_argument(
        "--limit", type=positive_int, default=None, help="only the first N training images (clips)"
    )
    p.add_argument("--batch-size", type=BATCH_SIZE, default=256, help="images per encoder batch")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run = Run(args.run_dir, args.device)
    args.run_dir = str(run.writable("fit-entropy"))  # never a stray ./NAME for a shipped name
    if is_audio(run.model):
        return _fit_audio(args, run)
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


def _fit_audio(args: argparse.Namespace, run: Run) -> int:
    """Audio: each residual stage's codes over the whole training clips, one by one (as
    compress codes them), pooled into ``counts`` and per stage into ``stage_counts``."""
    data = run.train_config.data
    name = args.dataset or data.dataset
    data_dir = args.data_dir if args.data_dir is not None or args.dataset else data.data_dir
    dataset = load_audio_dataset(name, "train", data_dir, run.model.sample_rate)
    if args.limit:
        dataset = dataset.subset(args.limit)
    clips = (dataset.clip(i).to(run.device) for i in range(len(dataset)))
    clips = track(clips, len(dataset), "counting codes", "clip")
    stage_counts = fit_stage_counts(run.model, clips)  # (S, K)
    counts = stage_counts.sum(0)
    extra = {"stage_counts": stage_counts.tolist(), "dataset": dataset.name, "clips": len(dataset)}
    StaticEntropyModel(counts).save(args.run_dir, extra)
    bits = StageEntropyModel(stage_counts).bits_per_code()
    rate = run.model.frames_per_second * np.cumsum(bits)
    print(
        f"wrote {args.run_dir}/entropy.json: {len(dataset)} clips, {int(counts.sum())} codes; "
        f"bits/code by stage {' '.join(f'{b:.2f}' for b in bits)}; entropy-coded rate with "
        f"1..{len(bits)} stages {' '.join(f'{r:.0f}' for r in rate)} bit/s"
    )
    return 0

"""``vqvae fit-entropy``: fit a run's static code distribution (``RUN_DIR/entropy.json``)."""

from __future__ import annotations

import argparse

import torch

from ..checkpoint import read_run_config
from ..codec import StaticEntropyModel
from ..codec.entropy import fit_counts
from ..data import load_dataset
from ..device import resolve_device
from ..errors import DataError
from .common import BATCH_SIZE, load_model, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit-entropy",
        help="fit the static code distribution that compress uses",
        description="Count the codes of the run's training set and write RUN_DIR/entropy.json.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--limit", type=positive_int, default=None, help="only the first N training images"
    )
    p.add_argument("--batch-size", type=BATCH_SIZE, default=256)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = read_run_config(args.run_dir)
    train_cfg = config.get("train", {})
    model = load_model(args.run_dir, args.device)
    name = args.dataset or train_cfg.get("dataset", "mnist")
    data_dir = args.data_dir if args.data_dir is not None else train_cfg.get("data_dir")
    crop = train_cfg.get("random_crop") if args.dataset is None else None
    dataset = load_dataset(name, "train", data_dir, center_crop=crop)
    if dataset.channels != model.config.in_channels:
        raise DataError(
            f"{name} has {dataset.channels}-channel images, the model expects "
            f"{model.config.in_channels}"
        )
    if args.limit is not None:
        dataset = dataset.subset(args.limit)
    device = resolve_device(args.device)
    order = torch.arange(len(dataset))
    batches = (
        dataset.batch(order[i : i + args.batch_size]).to(device)
        for i in range(0, len(dataset), args.batch_size)
    )
    counts = fit_counts(model, batches)
    static = StaticEntropyModel(counts)
    static.save(args.run_dir, {"dataset": name, "images": len(dataset)})
    p = counts / max(1, counts.sum())
    nz = p[p > 0]
    entropy_bits = float(-(nz * torch.log2(torch.from_numpy(nz)).numpy()).sum())
    print(
        f"wrote {args.run_dir}/entropy.json: {len(dataset)} images, {int(counts.sum())} codes, "
        f"{int((counts > 0).sum())}/{len(counts)} used, {entropy_bits:.3f} bits/code"
    )
    return 0

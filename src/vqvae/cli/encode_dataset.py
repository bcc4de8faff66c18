"""``vqvae encode-dataset``: cache a dataset's code maps (uint16 memmap + JSON meta)."""

from __future__ import annotations

import argparse

from ..data.codes import encode_dataset
from ..runs import Run
from .common import BATCH_SIZE, DEVICE_HELP, RUN_DIR_HELP, add_out_dir
from .outputs import plural


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "encode-dataset",
        help="cache a dataset's code maps for the prior",
        description="Encode a dataset with the run's model and cache its code maps in "
        "OUT_DIR: SPLIT.codes (uint16, N x H' x W') and SPLIT.json (shape, labels, the "
        "weights' fingerprint), which train-prior and eval-prior read with --codes OUT_DIR.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=RUN_DIR_HELP)
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument(
        "--data-dir", default=None, help="folder holding the dataset's files (default: the run's)"
    )
    add_out_dir(p, "folder to write the code maps into", deprecated=("-o", "--out"))
    p.add_argument(
        "--split", choices=["train", "test", "both"], default="both", help="which split to encode"
    )
    p.add_argument("--batch-size", type=BATCH_SIZE, default=256, help="images per encoder batch")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run = Run(args.run_dir, args.device)
    splits = ["train", "test"] if args.split == "both" else [args.split]
    datasets = [run.dataset(split, args.dataset, args.data_dir) for split in splits]
    for split, data in zip(splits, datasets, strict=True):
        path = encode_dataset(
            run.model, data, args.out_dir, split, run.fingerprint, args.batch_size, run.device
        )
        print(f"wrote {plural(len(data), 'code map')} to {path}")
    return 0

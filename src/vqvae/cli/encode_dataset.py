"""``vqvae encode-dataset``: cache a dataset's code maps (uint16 memmap + JSON meta)."""

from __future__ import annotations

import argparse

from ..data.codes import encode_dataset
from ..runs import Run


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "encode-dataset", help="cache a dataset's code maps for the prior", description=__doc__
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument("--data-dir", default=None)
    p.add_argument("-o", "--out", required=True, metavar="CODES_DIR")
    p.add_argument("--split", choices=["train", "test", "both"], default="both")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run = Run(args.run_dir, args.device)
    splits = ["train", "test"] if args.split == "both" else [args.split]
    datasets = [run.dataset(split, args.dataset, args.data_dir) for split in splits]
    for split, data in zip(splits, datasets, strict=True):
        path = encode_dataset(
            run.model, data, args.out, split, run.fingerprint, args.batch_size, run.device
        )
        print(f"wrote {len(data)} code maps to {path}")
    return 0

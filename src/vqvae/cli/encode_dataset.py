"""``vqvae encode-dataset``: cache a dataset's code maps (uint16 memmap + JSON meta)."""

from __future__ import annotations

import argparse

from ..data.codes import encode_dataset
from ..device import resolve_device
from ..priors import weights_fingerprint
from ..train.context_rate import training_assignment
from .common import BATCH_SIZE, load_model
from .prior_common import run_dataset


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "encode-dataset", help="cache a dataset's code maps for the prior", description=__doc__
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument("--data-dir", default=None)
    p.add_argument("-o", "--out", required=True, metavar="CODES_DIR")
    p.add_argument("--split", choices=["train", "test", "both"], default="both")
    p.add_argument("--batch-size", type=BATCH_SIZE, default=256)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    fingerprint = weights_fingerprint(args.run_dir)
    splits = ["train", "test"] if args.split == "both" else [args.split]
    datasets = [run_dataset(args.run_dir, args.dataset, args.data_dir, s, model) for s in splits]
    code_cost = training_assignment(args.run_dir, model)  # codes chosen as in training
    device = resolve_device(args.device)
    for split, data in zip(splits, datasets, strict=True):
        path = encode_dataset(
            model, data, args.out, split, fingerprint, args.batch_size, device, code_cost
        )
        print(f"wrote {len(data)} code maps to {path}")
    return 0

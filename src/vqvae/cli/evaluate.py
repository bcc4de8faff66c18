"""``vqvae eval``: distortion and code-usage metrics of a trained model on a dataset split."""

from __future__ import annotations

import argparse
import json

from ..checkpoint import read_run_config
from ..data import load_dataset
from ..device import resolve_device
from ..errors import DataError
from ..evaluation import evaluate
from ..train.context_rate import training_assignment
from .common import BATCH_SIZE, load_model, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a trained model", description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N images")
    p.add_argument("--batch-size", type=BATCH_SIZE, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = read_run_config(args.run_dir)
    train_cfg = config.get("train", {})
    model = load_model(args.run_dir, args.device)
    dataset_name = args.dataset or train_cfg.get("dataset", "mnist")
    data_dir = (
        args.data_dir
        if args.data_dir is not None
        else (train_cfg.get("data_dir") if args.dataset is None else None)
    )
    crop = train_cfg.get("random_crop") if args.dataset is None else None
    dataset = load_dataset(dataset_name, args.split, data_dir, center_crop=crop)
    if dataset.channels != model.config.in_channels:
        raise DataError(
            f"{dataset_name} has {dataset.channels}-channel images, the model expects "
            f"{model.config.in_channels}"
        )
    if args.limit is not None:
        dataset = dataset.subset(args.limit)
    code_cost = training_assignment(args.run_dir, model)  # codes chosen as in training
    result = evaluate(model, dataset, args.batch_size, resolve_device(args.device), code_cost)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>14}: {value:.6g}")
    return 0

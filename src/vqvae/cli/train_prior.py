"""``vqvae train-prior``: train the autoregressive prior over a run's code maps."""

from __future__ import annotations

import argparse
import json

from ..device import resolve_device
from ..errors import VQVAEError
from ..priors import PriorConfig
from ..runs import Run
from ..train.prior import PriorTrainConfig, train_prior
from .common import DEVICES, SEED, WRITTEN_RUN_HELP


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-prior",
        help="train the prior over a run's codes",
        description="Train the autoregressive (transformer) prior over a run's code maps and "
        "save it to RUN_DIR/prior. The codes are read from --codes, or encoded into "
        "RUN_DIR/codes when missing there.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=WRITTEN_RUN_HELP)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int, default=None, help="passes over the codes (default 20)")
    g.add_argument("--max-minutes", type=float, default=None, help="stop after this much time")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--codes", default=None, metavar="CODES_DIR", help="default: RUN_DIR/codes")
    p.add_argument("--dataset", default=None, help="default: the dataset the run was trained on")
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the dataset's files, when codes must be encoded (default: the run's)",
    )
    p.add_argument(
        "--batch-size", type=int, default=PriorTrainConfig.batch_size, help="code maps per step"
    )
    p.add_argument("--lr", type=float, default=PriorTrainConfig.lr, help="learning rate")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the weights and batches")
    p.add_argument("--device", default="auto", help=f"where the prior trains: {DEVICES}")
    m = p.add_argument_group("prior")
    m.add_argument("--n-layer", type=int, default=PriorConfig.n_layer, help="transformer blocks")
    m.add_argument(
        "--n-head", type=int, default=PriorConfig.n_head, help="attention heads per block"
    )
    m.add_argument(
        "--n-embd", type=int, default=PriorConfig.n_embd, help="width of the residual stream"
    )
    m.add_argument(
        "--dropout",
        type=float,
        default=PriorConfig.dropout,
        help="dropout on attention weights, residual branches and embeddings",
    )
    m.add_argument(
        "--positions",
        choices=["1d", "2d"],
        default=PriorConfig.positions,
        help="position embeddings: 2d (learned row + column) or 1d (one per raster position)",
    )
    m.add_argument(
        "--label-dropout",
        type=float,
        default=PriorConfig.label_dropout,
        help="fraction of training maps whose label is hidden, so one prior also samples and "
        "codes without a label",
    )
    m.add_argument("--no-labels", action="store_true", help="train an unconditional prior")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        schedule = PriorTrainConfig(
            epochs=(
                args.epochs
                if args.epochs is not None
                else (1000 if args.max_minutes else PriorTrainConfig.epochs)
            ),
            max_minutes=args.max_minutes,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
        )
    except ValueError as exc:
        raise VQVAEError(str(exc)) from None
    device = resolve_device(args.device)
    run = Run(args.run_dir)
    args.run_dir = str(run.writable("train-prior"))  # never a stray ./NAME for a shipped name
    model = run.model
    if model.quantizer.num_stages > 1:
        raise VQVAEError(
            f"{args.run_dir}: the prior models single-stage code maps; this run's "
            f"{model.config.quantizer.kind} quantizer has {model.quantizer.num_stages} stages"
        )
    train_codes = run.codes("train", args.codes, args.dataset, args.data_dir)
    test_codes = run.codes("test", args.codes, args.dataset, args.data_dir)
    h, w = train_codes.shape
    num_classes = 0
    if not args.no_labels and train_codes.labels is not None:
        num_classes = int(train_codes.labels.max()) + 1
    try:
        config = PriorConfig(
            codebook_size=model.quantizer.codebook_size,
            height=h,
            width=w,
            num_classes=num_classes,
            n_layer=args.n_layer,
            n_head=args.n_head,
            n_embd=args.n_embd,
            dropout=args.dropout,
            positions=args.positions,
            label_dropout=args.label_dropout,
        )
    except ValueError as exc:
        raise VQVAEError(str(exc)) from None
    result = train_prior(config, schedule, train_codes, test_codes, args.run_dir, device)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"prior saved to {args.run_dir}/prior: {result['bits_per_image']:.2f} bits per image "
            f"on the test codes after {result['steps']} steps ({result['minutes']:.1f} min)"
        )
    return 0

"""``vqvae train-context``: train the fast context model over a run's code maps."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .. import pretrained
from ..checkpoint import read_run_config
from ..data.datasets import canonical_name, image_folder
from ..data.folder import list_images
from ..device import resolve_device
from ..errors import DataError, VQVAEError
from ..priors.context import CONTEXT_DIR, MAX_LEVELS, ContextConfig, ContextModel, load_context
from ..priors.io import weights_fingerprint
from ..runs import Run
from ..train.context import ContextTrainConfig, image_code_maps, train_context
from .common import DEVICES, SEED, WRITTEN_RUN_HELP, int_range

SIZES = ("embed_dim", "channels", "layers", "levels")
"""The context model's size flags (``--embed-dim`` ...), None where not given."""

HELD_OUT = 24
"""Held-out images (or code maps) the result is measured on."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-context",
        help="train the fast context model over a run's codes",
        description="Train the context model (codes in interleaved groups, four by default, each "
        "predicted in one pass from the groups before it) over a run's code maps and save it to "
        "RUN_DIR/context; the codec then uses it (`--entropy-model context`, the default "
        "where a run has no transformer prior). Image folders are coded whole (and mirrored); "
        "named datasets use the run's cached code maps.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help=WRITTEN_RUN_HELP)
    p.add_argument(
        "--images",
        default=None,
        metavar="FOLDER",
        help="train on these images' maps (its train/ split if it has one; held out: its "
        "test/ split); default: the run's dataset",
    )
    p.add_argument("--limit", type=int_range(1), default=None, help="only the first N images")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this much time")
    p.add_argument(
        "--max-steps", type=int_range(1), default=ContextTrainConfig.max_steps, help="steps"
    )
    p.add_argument(
        "--batch-size",
        type=int_range(1),
        default=ContextTrainConfig.batch_size,
        help="code-map crops per step",
    )
    p.add_argument(
        "--crop", type=int_range(2), default=ContextTrainConfig.crop, help="crop side in codes"
    )
    p.add_argument("--lr", type=float, default=ContextTrainConfig.lr, help="learning rate")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the weights and batches")
    p.add_argument(
        "--device", default="auto", help=f"where the encoder and the model run: {DEVICES}"
    )
    p.add_argument(
        "--threads",
        type=int_range(1),
        default=None,
        help="CPU threads for training (default: PyTorch's)",
    )
    m = p.add_argument_group("context model")
    m.add_argument(
        "--channels",
        type=int_range(1),
        default=None,
        help=f"conv width (default {ContextConfig.channels})",
    )
    m.add_argument(
        "--layers",
        type=int_range(1),
        default=None,
        help=f"residual 3x3 convs (default {ContextConfig.layers})",
    )
    m.add_argument(
        "--embed-dim",
        type=int_range(1),
        default=None,
        help=f"size of a code's embedding (default {ContextConfig.embed_dim})",
    )
    m.add_argument(
        "--levels",
        type=int_range(1, MAX_LEVELS),
        default=None,
        help="coding order: 1 (default) four groups by row and column parity; L: anchors "
        "every 2^L codes first, then three groups per halving of their spacing (3L + 1 "
        "groups, 3L + 1 network passes a map)",
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="RUN_DIR",
        help="continue training the context model of this run dir or shipped model (the "
        "same VQ-VAE weights; its sizes, which the size flags may only repeat); the learning "
        "rate schedule starts again",
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not (Path(args.run_dir) / "config.json").is_file():
        raise VQVAEError(f"{args.run_dir}: not a run directory (train-context writes into it)")
    try:
        schedule = ContextTrainConfig(
            max_steps=args.max_steps,
            max_minutes=args.max_minutes,
            batch_size=args.batch_size,
            crop=args.crop,
            lr=args.lr,
            seed=args.seed,
        )
    except ValueError as exc:
        raise VQVAEError(str(exc)) from None
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    run = Run(args.run_dir, device)
    model = run.model
    if model.quantizer.num_stages > 1 or getattr(model.config, "modality", "image") != "image":
        raise VQVAEError(f"{args.run_dir}: the context model codes single-stage image code maps")
    init, init_steps = _init(args, run) if args.init_from else (None, 0)
    sizes = {k: getattr(args, k) for k in SIZES}
    if init is not None:
        given = {k: v for k, v in sizes.items() if v is not None}
        source = {k: getattr(init.config, k) for k in SIZES}
        if any(source[k] != v for k, v in given.items()):
            raise VQVAEError(
                f"{args.init_from}: its context model has sizes {source}, not the ones given"
            )
        sizes = source
    try:
        config = ContextConfig(
            codebook_size=model.quantizer.codebook_size,
            **{k: getattr(ContextConfig, k) if v is None else v for k, v in sizes.items()},
        )
    except ValueError as exc:
        raise VQVAEError(str(exc)) from None
    train_maps, test_maps = _maps(run, args.images, args.limit)
    result = train_context(
        config,
        schedule,
        train_maps,
        test_maps,
        args.run_dir,
        device=device,
        init=init,
        init_steps=init_steps,
    )
    if args.json:
        print(json.dumps(result))
    return 0


def _init(args: argparse.Namespace, run: Run) -> tuple[ContextModel, int]:
    """The context model ``--init-from`` names, and the steps it was trained for."""
    source = pretrained.resolve(args.init_from)
    if weights_fingerprint(source) != weights_fingerprint(run.path):
        raise VQVAEError(
            f"{args.init_from}: other VQ-VAE weights than {args.run_dir} (its context model "
            "predicts other codes)"
        )
    model = load_context(source)
    stamp = read_run_config(source / CONTEXT_DIR, kind="context")
    return model.train(), int(stamp.get("total_steps", stamp.get("step", 0)))


def _maps(run: Run, images: str | None, limit: int | None):
    """(train maps, held-out maps) of the run's images or dataset."""
    train = run.train_config.data
    source = images or train.dataset
    if images is None and canonical_name(source or "mnist") is not None:
        codes = run.codes("train")
        held = run.codes("test")
        n = limit or len(codes)
        return list(codes.indices[:n]), list(held.indices[: min(len(held), 1000)])
    data_dir = None if images else train.data_dir
    paths = _unique(list_images(image_folder(source, "train", data_dir)))[:limit]
    try:
        test_folder = image_folder(source, "test", data_dir)
        held = _unique(list_images(test_folder))[:HELD_OUT]
    except DataError:  # no test split: hold out none (measured on training maps)
        held = []
    if held and held[0] in set(paths):  # a folder without splits: nothing held out
        held = []
    return image_code_maps(run.model, paths), image_code_maps(run.model, held, mirror=False)


def _unique(paths: list[Path]) -> list[Path]:
    """``paths`` without repeats of one file (links to it included), in order."""
    seen, out = set(), []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out

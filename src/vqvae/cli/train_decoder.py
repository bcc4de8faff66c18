"""``vqvae train-decoder``: train a new decoder on a finished run's frozen codes."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..checkpoint import read_run_config
from ..config import VQVAEConfig
from ..errors import VQVAEError
from ..evaluation import summary
from ..train import train
from ..train.configure import NO_EPOCH_LIMIT, train_config_from
from ..train.decoder import carry_over, with_decoder_sizes
from .train import (
    add_adversarial_arguments,
    add_perceptual_arguments,
    add_schedule_arguments,
    check_perceptual_net,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-decoder",
        help="train a (bigger) decoder on a run's frozen codes",
        description="Copy RUN_DIR's encoder and quantizer, freeze them, and train a decoder "
        "into --out: RUN_DIR's own, continued, or a new one when --hidden, --res-channels or "
        "--res-blocks give other sizes. The codes stay exactly RUN_DIR's, so its "
        "entropy.json and prior are carried over: the same bits, a better reconstruction. "
        "Data and schedule default to RUN_DIR's; --resume continues --out. The adversarial and "
        "perceptual losses train a sharper decoder at exactly the same bits.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run whose codes to keep")
    p.add_argument("--out", required=True, help="new run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--dataset", default=None, help="default: RUN_DIR's")
    p.add_argument("--data-dir", default=None, help="default: RUN_DIR's")
    p.add_argument(
        "--download", action="store_true", default=None, help="fetch the dataset if missing"
    )
    add_schedule_arguments(p)
    m = p.add_argument_group("decoder (default: RUN_DIR's decoder)")
    m.add_argument("--hidden", type=int, default=None, help="conv trunk width")
    m.add_argument("--res-channels", type=int, default=None, help="residual bottleneck width")
    m.add_argument("--res-blocks", type=int, default=None, help="residual blocks")
    add_adversarial_arguments(p)  # a sharper decoder on the same codes (issue #39)
    add_perceptual_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source, out = Path(args.run_dir), Path(args.out)
    if out.resolve() == source.resolve():
        raise VQVAEError("--out must be a new run directory, not RUN_DIR itself")
    saved = read_run_config(source)
    check_perceptual_net(args)
    if args.resume:
        base = read_run_config(out).get("train", {})
    else:
        if (out / "config.json").exists():
            raise VQVAEError(f"{out} already holds a run; pick a new --out or pass --resume")
        # The source's data and schedule (its steps or minutes too, unless a run length is
        # given); not how it was started. The source's code assignment rule comes with its
        # codes (``decoder.load_codes_from``).
        skip = ["init_from", "rate_prior", "rate_prior_weight"]
        lengths = ("epochs", "max_steps", "max_minutes")
        if any(getattr(args, k) is not None for k in lengths):
            skip += lengths
        base = {k: v for k, v in saved.get("train", {}).items() if k not in skip}
        if args.epochs is None and "epochs" in skip:
            base["epochs"] = NO_EPOCH_LIMIT  # the steps or minutes given decide
        base["codes_from"] = os.path.abspath(source)  # --resume may run from elsewhere
    try:
        train_config = train_config_from(args, base)
        model_config = with_decoder_sizes(
            VQVAEConfig.from_dict(saved.get("model", {})),
            args.hidden,
            args.res_channels,
            args.res_blocks,
        )
    except ValueError as exc:  # config validation
        raise VQVAEError(str(exc)) from None
    if train_config.init.codes_from is None:
        raise VQVAEError(f"{out} was not made by train-decoder; resume it with `vqvae train`")
    result = train(
        model_config,
        train_config,
        out,
        resume=args.resume,
        progress=not (args.no_progress or args.quiet),
    )
    if not result:  # a rank other than 0 under torchrun: rank 0 reports
        return 0
    copied = carry_over(train_config.init.codes_from, out)
    extra = f"; carried over {', '.join(copied)}" if copied else ""
    print(f"done: {out} (test {summary(result)}){extra}")
    return 0

"""``vqvae train``: train a VQ-VAE into a run directory."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..checkpoint import read_run_config
from ..errors import CheckpointError, VQVAEError
from ..evaluation import summary
from ..models.features import SHIPPED as SHIPPED_FEATURE_NETS
from ..models.features import FeatureNet
from ..priors import load_prior
from ..quantizers import quantizer_names
from ..train import train
from ..train.configure import configure, describe_plan
from ..train.rundir import check_new_run
from .common import SEED


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a VQ-VAE",
        description="Train a VQ-VAE on mnist, fashion-mnist, cifar10, fsdd (speech) or a folder "
        "of images or of WAV/FLAC files (an audio model: 1-D convolutions over waveforms). "
        "Under torchrun (torchrun --nproc_per_node=N -m vqvae train ...) it trains one DDP "
        "model on N processes; --batch-size is then the global batch.",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="mnist (default, embedded), fashion-mnist, cifar10, fsdd (speech), or a folder of "
        "images or of WAV/FLAC files",
    )
    p.add_argument("--data-dir", default=None, help="folder holding the dataset's files")
    p.add_argument(
        "--download", action="store_true", default=None, help="fetch the dataset if missing"
    )
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (its weights, checkpoints, metrics, entropy "
        "model and prior are removed); without it a new run refuses a directory holding one",
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="RUN_DIR",
        help="start from this run's weights: encoder, quantizer and decoder are each copied "
        "when their sizes match (e.g. a bigger --codebook-size keeps encoder and decoder)",
    )
    p.add_argument(
        "--rate-prior",
        default=None,
        metavar="RUN_DIR",
        help="assign codes by latent distance + --rate-prior-weight x their length in bits "
        "under this run's prior, in context (teaches the model codes the prior finds cheap)",
    )
    p.add_argument(
        "--rate-prior-weight",
        type=float,
        default=None,
        metavar="L",
        help="lambda of --rate-prior: latent squared distance per bit (e.g. 0.2-0.5)",
    )
    add_schedule_arguments(p)
    add_model_arguments(p)
    add_adversarial_arguments(p)
    add_perceptual_arguments(p)
    p.set_defaults(run=run)


def add_perceptual_arguments(p: argparse.ArgumentParser) -> None:
    """The perceptual-loss flags (images; default None: the recipe's 0, or the saved run's)."""
    g = p.add_argument_group("perceptual loss (images)")
    g.add_argument(
        "--perceptual-weight",
        type=float,
        default=None,
        metavar="W",
        help="add W x an LPIPS-style distance between the features of x and x_hat in a frozen "
        "feature net (the project's own `perceptual` net, not VGG/LPIPS) to the "
        "reconstruction loss (default 0: none; images only)",
    )
    g.add_argument(
        "--perceptual-net",
        default=None,
        metavar="PATH",
        help="the feature net of --perceptual-weight: a folder with config.json + "
        "model.safetensors of the same interface (default: the shipped `perceptual`)",
    )


def check_perceptual_net(args: argparse.Namespace) -> None:
    """``--perceptual-net``: a feature net or a one-line error before training; its path made
    absolute (``--resume`` may run from elsewhere); a shipped net's name stays a name."""
    if args.perceptual_net is not None:
        FeatureNet.from_pretrained(args.perceptual_net)
        if args.perceptual_net not in SHIPPED_FEATURE_NETS:
            args.perceptual_net = os.path.abspath(args.perceptual_net)


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The "model" flags: architecture and quantizer (default None: the recipe's)."""
    m = p.add_argument_group("model")
    _add_size_arguments(m)
    _add_kind_arguments(m)
    _add_quantizer_arguments(m)


def _add_size_arguments(m) -> None:
    """Architecture, and the sizes of encoder and decoder."""
    m.add_argument(
        "--arch",
        choices=["conv", "mlp"],
        default="conv",
        help="conv (strided convolutions + residual blocks) or mlp (fully connected, one image "
        "size)",
    )
    m.add_argument(
        "--codebook-size",
        type=int,
        default=None,
        help="codes per codebook (default: the recipe's, 128 for digits, 512 for photos; "
        "fsq: the product of --levels)",
    )
    m.add_argument(
        "--code-dim", type=int, default=None, help="dimension of each code (recipe: 16 / 64)"
    )
    m.add_argument(
        "--downsample",
        type=int,
        choices=[2, 4, 8],
        default=None,
        help="spatial reduction f: code maps are (H/f, W/f) (recipe: 4)",
    )
    m.add_argument("--hidden", type=int, default=None, help="conv trunk width (recipe: 64 / 128)")
    m.add_argument(
        "--res-channels", type=int, default=None, help="residual bottleneck width (recipe: 32)"
    )
    m.add_argument(
        "--res-blocks", type=int, default=None, help="residual blocks per side (recipe: 2)"
    )
    m.add_argument("--decoder-hidden", type=int, default=None, help="default: --hidden")
    m.add_argument("--decoder-res-channels", type=int, default=None, help="default: --res-channels")
    m.add_argument("--decoder-res-blocks", type=int, default=None, help="default: --res-blocks")


def _add_kind_arguments(m) -> None:
    """The quantizer's kind, and the settings of audio models."""
    m.add_argument(
        "--quantizer",
        choices=quantizer_names(),
        default=None,
        help="ema (default; rvq for audio) or vq codebook, fsq, rvq (residual stages), "
        "grouped or cosine",
    )
    m.add_argument(
        "--strides",
        default=None,
        help="audio: the encoder's comma-separated strides, whose product is the hop "
        "(samples per code frame; fsdd recipe: 2,4,4,5 = 160, 50 frames/s at 8 kHz)",
    )
    m.add_argument(
        "--audio-decoder",
        choices=("conv", "istft"),
        default=None,
        help="audio: the decoder: conv (the encoder's mirror) or istft (ConvNeXt blocks at "
        "two frames per code and an inverse STFT, as Vocos; --decoder-res-blocks blocks; "
        "fsdd recipe: istft)",
    )
    m.add_argument(
        "--phase-weight",
        type=float,
        default=0.0,
        help="audio, istft decoder: weight of a phase loss on the decoder's STFT phase "
        "(instantaneous phase, group delay, phase advance; default 0: none)",
    )


def add_adversarial_arguments(p: argparse.ArgumentParser) -> None:
    """Adversarial training (``vqvae.train.adversarial``), for images and audio alike (also
    ``train-decoder``'s)."""
    a = p.add_argument_group("adversarial training")
    a.add_argument(
        "--adversarial-weight",
        type=float,
        default=None,
        metavar="W",
        help="train a discriminator beside the model (images: a patch discriminator; audio: "
        "multi-scale STFT) and add W x the hinge loss of fooling it (default 0: none)",
    )
    a.add_argument(
        "--feature-weight",
        type=float,
        default=None,
        metavar="W",
        help="weight of feature matching on that discriminator's feature maps "
        "(default: --adversarial-weight)",
    )
    a.add_argument(
        "--adversarial-start",
        type=int,
        default=None,
        metavar="STEP",
        help="the first STEP steps train without the discriminator (it neither trains nor "
        "adds losses), so the autoencoder settles first (default 0)",
    )
    a.add_argument(
        "--adaptive-weight",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale the adversarial term by VQGAN's adaptive weight, ||grad L_rec|| / "
        "||grad L_adv|| at the decoder's output layer (default: on for images, off for audio)",
    )


def _add_quantizer_arguments(m) -> None:
    """The quantizer's settings, common and kind-specific."""
    m.add_argument(
        "--commitment-weight",
        type=float,
        default=0.25,
        help="beta on the commitment term ||z_e - sg(e)||^2",
    )
    m.add_argument("--decay", type=float, default=0.99, help="EMA decay")
    m.add_argument("--dead-code-threshold", type=float, default=0.03, help="0 disables restarts")
    m.add_argument(
        "--restart-decay",
        type=float,
        default=None,
        help="decay of the recent-usage EMA that picks dead codes (default 0.9)",
    )
    m.add_argument(
        "--rate-weight",
        type=float,
        default=None,
        help="entropy-constrained VQ: pick codes by distance + RATE_WEIGHT * bits (default 0)",
    )
    m.add_argument(
        "--no-kmeans-init",
        action="store_true",
        help="keep the random codebook instead of k-means on the first training batch",
    )
    m.add_argument(
        "--rotation-trick",
        action="store_true",
        help="rotation trick (Fifty et al. 2024) instead of the straight-through estimator",
    )
    m.add_argument(
        "--entropy-weight", type=float, default=0.0, help="codebook-diversity regulariser weight"
    )
    m.add_argument("--levels", default=None, help="fsq: comma-separated levels, e.g. 8,5,5,5")
    m.add_argument("--num-stages", type=int, default=None, help="rvq: stages (default 4)")
    m.add_argument(
        "--quantizer-dropout", type=float, default=None, help="rvq: quantizer dropout probability"
    )
    m.add_argument("--groups", type=int, default=None, help="grouped: codebook groups (default 2)")
    m.add_argument(
        "--stage-kind", choices=["ema", "vq"], default=None, help="rvq/grouped: codebook kind"
    )
    m.add_argument("--lookup-dim", type=int, default=None, help="cosine: lookup dim (default 8)")


def add_schedule_arguments(p: argparse.ArgumentParser) -> None:
    """The "schedule" flags (all default to None: unset), shared with ``train-decoder``."""
    g = p.add_argument_group("schedule")
    g.add_argument("--epochs", type=int, default=None, help="passes over the training set")
    g.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop after this many minutes of training in this invocation (a --resume gets a "
        "new budget); given alone, it decides the run's length instead of --epochs",
    )
    g.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    g.add_argument(
        "--batch-size", type=int, default=None, help="images per step (the global batch in DDP)"
    )
    g.add_argument(
        "--lr", type=float, default=None, help="Adam learning rate (the peak, with a schedule)"
    )
    g.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine"],
        default=None,
        help="cosine (default): decay to zero over the steps or --max-minutes; constant",
    )
    g.add_argument(
        "--warmup-steps",
        type=int,
        default=None,
        metavar="N",
        help="raise the learning rate linearly over the first N steps (default 0; steadies "
        "an --init-from warm start)",
    )
    g.add_argument(
        "--clip-grad",
        type=float,
        default=None,
        metavar="NORM",
        help="clip the gradient norm to NORM before each step (default: no clipping)",
    )
    g.add_argument(
        "--seed",
        type=SEED,
        default=None,
        help="seeds initialisation, shuffling, crops, restarts (0 to 2**32-1)",
    )
    g.add_argument("--device", default=None, help="auto (default), cpu, cuda or mps")
    g.add_argument("--train-subset", type=int, default=None, help="use the first N training images")
    g.add_argument(
        "--eval-subset", type=int, default=None, help="evaluate on the first N test images"
    )
    g.add_argument(
        "--random-crop",
        type=int,
        default=None,
        help="train on random SIZE crops (audio: random segments of SIZE samples)",
    )
    g.add_argument(
        "--data-loading",
        choices=["auto", "memory", "stream"],
        default=None,
        help="a folder of images: decode it all into RAM first (memory), or batch by batch in "
        "--workers loader processes, its memory not growing with its size (stream); auto "
        "(default) streams a folder whose decoded images would take over 256 MiB. Tar shards "
        "(a folder of .tar files or a pattern like data/shard-{000..009}.tar) always stream; "
        "mnist, fashion-mnist and cifar10 always load into RAM",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="loader processes decoding streamed images (default min(4, CPU cores); 0: none)",
    )
    g.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    g.add_argument(
        "--eval-every", type=int, metavar="N", help="evaluate every N steps (default: ~10 a run)"
    )
    g.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile the encoder and decoder (off by default: on CPU it does not pay)",
    )
    g.add_argument(
        "--train-noise",
        default=None,
        metavar="SPEC",
        help="train a denoiser: corrupt inputs with gaussian:SIGMA, saltpepper:RATE or "
        "mask:FRACTION and reconstruct the clean images",
    )
    g.add_argument(
        "--augment",
        action="store_true",
        default=None,
        help="speech: draw every training segment at a random speed (0.9/1.0/1.1), peak "
        "level (-41..-1 dBFS), band limit, reverberation and noise",
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.resume and args.overwrite:
        raise VQVAEError("--resume and --overwrite exclude each other")
    if not args.resume:  # before anything is loaded: a one-line refusal
        check_new_run(Path(args.out), resume=False, overwrite=args.overwrite)
    try:
        saved = read_run_config(args.out).get("train", {}) if args.resume else {}
        if not isinstance(saved, dict):
            raise CheckpointError(f"{args.out}: its training settings are not an object")
        if args.init_from is not None:
            read_run_config(args.init_from)  # a run dir, or a one-line error before training
            args.init_from = os.path.abspath(args.init_from)  # --resume may run from elsewhere
        if args.rate_prior is not None:
            load_prior(args.rate_prior)  # has a prior for its weights, or a one-line error
            args.rate_prior = os.path.abspath(args.rate_prior)
        check_perceptual_net(args)
        recipe, train_config, model_config = configure(args, saved)
    except ValueError as exc:  # config validation
        raise VQVAEError(str(exc)) from None
    if not args.resume and os.environ.get("RANK", "0") == "0":  # rank 0 of torchrun speaks
        print(describe_plan(train_config, recipe, args), flush=True)
    result = train(
        model_config,
        train_config,
        args.out,
        resume=args.resume,
        progress=not (args.no_progress or args.quiet),
        overwrite=args.overwrite,
    )
    if not result:  # a rank other than 0 under torchrun: rank 0 reports
        return 0
    print(f"done: {args.out} (test {summary(result)})")
    return 0

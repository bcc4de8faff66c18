"""Helpers shared by subcommands: the help layout, output-folder options, images read against
a model, output names, sampling arguments."""

from __future__ import annotations

import argparse
import copy
import functools
import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from ..codec.postfilter import SHARPENING, check_exponent
from ..data import load_image
from ..errors import DataError
from ..limits import MAX_AUDIO_SECONDS, MAX_PIXELS
from ..models import VQVAE

DEVICES = "cpu, cuda, cuda:N, mps, or auto for the first available"
DEVICE_HELP = f"where the model runs: {DEVICES}"
RUN_DIR_HELP = "a run directory written by vqvae train, or a shipped model's name (vqvae models)"
WRITTEN_RUN_HELP = (
    "a run directory written by vqvae train (this command writes into it: a shipped model's "
    "name is refused)"
)
PRIOR_RUN_HELP = (
    "a run directory with a prior (vqvae train-prior), or a shipped model's name with one "
    "(vqvae models: mnist-prior)"
)

# ---- argument types: a bad value is argparse's one-line usage error (exit code 2) ----------


def finite_float(text: str) -> float:
    """A float that is a number: nan and inf are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (high None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


positive_int = int_range(1)
SEED = int_range(0, 2**32 - 1)
BATCH_SIZE = int_range(1, 1 << 16)
MAX_SAMPLES = 10_000  # code maps drawn by one sample / complete command


def add_max_pixels(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=MAX_PIXELS,
        metavar="N",
        help=f"refuse {what} larger than N pixels (default {MAX_PIXELS}, 64 megapixels)",
    )


def add_max_seconds(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--max-seconds",
        type=positive_float,
        default=MAX_AUDIO_SECONDS,
        metavar="N",
        help=f"refuse {what} longer than N seconds (default {MAX_AUDIO_SECONDS:g})",
    )


def postfilter_exponent(text: str) -> float:
    """argparse type: a postfilter exponent in [1, ``MAX_SHARPENING``]."""
    try:
        return check_exponent(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_postfilter(parser: argparse.ArgumentParser) -> None:
    """``--postfilter P``: the speech decoder's spectral sharpening (None when not given)."""
    parser.add_argument(
        "--postfilter",
        metavar="P",
        type=postfilter_exponent,
        default=None,
        help="sound: the decoder's spectral sharpening, each short-time magnitude spectrum "
        f"raised to the power P (default {SHARPENING:g}, as speech codecs' postfilters "
        "restore the formants a decoder flattens; 1 turns it off)",
    )


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def bitrate(text: str) -> float:
    """A bitrate in bit/s: ``2400``, or with a ``k`` suffix in kbit/s: ``2.4k``."""
    scale = 1000.0 if text.lower().endswith("k") else 1.0
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected bit/s (2400) or kbit/s with a k (2.4k), got {text!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a bitrate > 0, got {text!r}")
    return value


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, plus " (default: X)" after an option whose default is not None or
    False (unless its help already mentions a default), and without deprecated spellings."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS:
            return text
        if "default" in text.lower():
            return text
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, "*"):
            return text  # a required positional: its default is never used
        return f"{text} (default: %(default)s)"

    def _format_action_invocation(self, action: argparse.Action) -> str:
        hidden = getattr(action, "deprecated_spellings", ())
        if hidden:
            action = copy.copy(action)
            action.option_strings = [s for s in action.option_strings if s not in hidden]
        return super()._format_action_invocation(action)


class _OutDir(argparse.Action):
    """Stores an output folder; an old spelling of the flag also prints a one-line note."""

    def __init__(self, option_strings, dest, deprecated_spellings=(), **kwargs) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.deprecated_spellings = tuple(deprecated_spellings)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if option_string in self.deprecated_spellings:
            print(
                f"vqvae: note: {option_string} for an output folder is deprecated; use --out-dir",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, values)


def add_out_dir(
    parser: argparse.ArgumentParser, help: str, deprecated: tuple[str, ...] = ("-o",)
) -> None:
    """The required ``--out-dir OUT_DIR`` (``args.out_dir``) of a subcommand that writes many
    files. ``deprecated``: its old spellings, accepted for one release with a note on stderr."""
    parser.add_argument(
        "--out-dir",
        *deprecated,
        dest="out_dir",
        required=True,
        metavar="OUT_DIR",
        action=_OutDir,
        deprecated_spellings=deprecated,
        help=f"{help} (old spelling {', '.join(deprecated)}: deprecated)",
    )


def load_images_for(
    model: VQVAE, paths: list[str], max_pixels: int | None = MAX_PIXELS
) -> list[torch.Tensor]:
    """Read images as float (1, C, H, W) in [0, 1], checking the channel count against the model
    and the size against ``max_pixels`` (from each file's header, before decoding it)."""
    out = []
    for path in paths:
        img = load_image(path, max_pixels=max_pixels)
        if img.shape[0] != model.config.in_channels:
            raise DataError(
                f"{path}: image has {img.shape[0]} channel(s), the model expects {model.config.in_channels}"
            )
        size = tuple(model.config.image_size)
        if model.config.arch == "mlp" and tuple(img.shape[1:]) != size:
            raise DataError(
                f"{path}: this MLP model takes {size[0]}x{size[1]} images, got {img.shape[1]}x{img.shape[2]}"
            )
        out.append(img.float().div(255).unsqueeze(0))
    return out


def unique_stems(paths: list[str]) -> list[str]:
    """File stems, made unique by an index prefix when two inputs share a name."""
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{i:04d}_{s}" for i, s in enumerate(stems)]


def parse_label(label: int | None, num_classes: int) -> int | None:
    if label is None:
        return None
    if num_classes == 0:
        raise DataError("--label: this prior was trained without class labels")
    if not 0 <= label < num_classes:
        raise DataError(f"--label must lie in [0, {num_classes}), got {label}")
    return label


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """--temperature, --top-k and --seed of the commands that sample the prior."""
    parser.add_argument(
        "--temperature",
        type=finite_float,
        default=1.0,
        help="divides the prior's logits: below 1 sharper, above 1 more varied",
    )
    parser.add_argument(
        "--top-k", type=int_range(1), default=None, help="sample only among the K likeliest codes"
    )
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the sampling")


def check_sampling_args(temperature: float, top_k: int | None, n: int) -> None:
    if temperature <= 0:
        raise DataError(f"--temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise DataError(f"--top-k must be >= 1, got {top_k}")
    if n < 1:
        raise DataError(f"-n must be >= 1, got {n}")


def single_threaded(run):
    """Run a subcommand with one intra-op thread (restored after): the prior's one-token steps
    on small matrices gain nothing from more threads, which only spin on a busy machine."""

    @functools.wraps(run)
    def wrapper(args):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run(args)
        finally:
            torch.set_num_threads(threads)

    return wrapper

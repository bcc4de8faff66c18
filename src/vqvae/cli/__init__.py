"""The ``vqvae`` command line: a thin argparse layer over the library's public functions.

Each subcommand lives in its own module with ``register(subparsers)``, which adds a parser
whose ``run`` default takes the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from PIL import UnidentifiedImageError

from .. import progress
from .._version import __version__
from ..errors import VQVAEError
from . import (
    complete,
    compress,
    corrupt,
    decompress,
    denoise,
    encode_dataset,
    eval_prior,
    evaluate,
    export,
    fit_entropy,
    images,
    models,
    report,
    sample,
    train,
    train_context,
    train_decoder,
    train_prior,
)
from .common import HelpFormatter

COMMANDS = [train, train_decoder, evaluate, images, fit_entropy, compress, decompress]
COMMANDS += [encode_dataset, train_prior, train_context, sample, eval_prior, complete]
COMMANDS += [corrupt, denoise, models]
COMMANDS += [export, report]


class UsageError(VQVAEError):
    """A command line argparse cannot parse (unknown flag, bad value, missing argument)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (the reason and where the usage is) and exit
    code 2 through ``main``, like every other user error; subparsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        reason = " ".join(message.split())
        raise UsageError(f"{reason} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="vqvae",
        description="Vector-quantized autoencoders for images and speech.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vqvae {__version__}")
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        required=True,
        help="the subcommand; `vqvae COMMAND --help` lists its options",
    )
    for module in COMMANDS:
        module.register(subparsers)
    for sub in subparsers.choices.values():
        sub.formatter_class = HelpFormatter  # " (default: X)" after options that have one
        sub.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="no progress display on stderr (also: VQVAE_QUIET=1); long steps otherwise "
            "show a bar on a terminal and a line per ~10%% elsewhere",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line on stderr and return exit code 2."""
    try:
        args = build_parser().parse_args(argv)
        if args.quiet:
            progress.set_quiet(True)
        return int(args.run(args) or 0)
    except (VQVAEError, OSError, UnidentifiedImageError) as exc:
        print(f"vqvae: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vqvae: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())

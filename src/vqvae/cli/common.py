"""Helpers shared by subcommands: loading a run's model and images with clear errors."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import torch

from ..data import load_image
from ..device import resolve_device
from ..errors import DataError
from ..limits import MAX_PIXELS
from ..models import VQVAE

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


def load_model(run_dir: str, device: str = "cpu") -> VQVAE:
    """The run's model in eval mode on ``device``."""
    return VQVAE.from_pretrained(run_dir, map_location=resolve_device(device))


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

"""Helpers shared by subcommands: images read against a model, output names, sampling
arguments."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from ..data import load_image
from ..errors import DataError
from ..models import VQVAE


def load_images_for(model: VQVAE, paths: list[str]) -> list[torch.Tensor]:
    """Read images as float (1, C, H, W) in [0, 1], checking the channel count against the model."""
    out = []
    for path in paths:
        img = load_image(path)
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

"""Helpers shared by subcommands: loading a run's model and images with clear errors."""

from __future__ import annotations

from pathlib import Path

import torch

from ..data import load_image
from ..device import resolve_device
from ..errors import DataError
from ..models import VQVAE


def load_model(run_dir: str, device: str = "cpu") -> VQVAE:
    """The run's model in eval mode on ``device``."""
    return VQVAE.from_pretrained(run_dir, map_location=resolve_device(device))


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

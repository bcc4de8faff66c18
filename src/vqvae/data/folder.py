"""Folders of image files: listing them and loading them into one uint8 tensor.

Reading and writing one image file is ``vqvae.media.image``; its names are also here, as
before (``load_image``, ``save_image``, ``infer_channels``, ...).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from vqvae.data import transforms
from vqvae.errors import DataError
from vqvae.media.image import (
    DECODE_ERRORS,
    IMAGE_EXTENSIONS,
    infer_channels,
    load_image,
    open_image,
    save_image,
    to_8bit,
)

# the old private names, for modules not yet moved to vqvae.media
_DECODE_ERRORS, _open, _to_8bit = DECODE_ERRORS, open_image, to_8bit

__all__ = [
    "IMAGE_EXTENSIONS",
    "infer_channels",
    "list_images",
    "load_folder",
    "load_image",
    "save_image",
]


def _workers() -> int:
    return min(8, os.cpu_count() or 1)


def list_images(folder: str | Path) -> list[Path]:
    """All image files under ``folder``, recursively, in sorted order.

    Hidden files and folders (names starting with ".") are skipped; other files with
    non-image extensions are ignored.

    Args:
        folder: the root folder.

    Returns:
        Paths sorted by their POSIX path relative to ``folder`` (deterministic across runs).

    Raises:
        DataError: ``folder`` does not exist, is not a folder, or holds no image files.
    """
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of images")
    found = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.suffix.lower() not in IMAGE_EXTENSIONS or any(
            part.startswith(".") for part in rel.parts
        ):
            continue
        if path.is_file():
            found.append((rel.as_posix(), path))
    if not found:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {folder}")
    return [path for _, path in sorted(found)]


def _load_one(
    path: Path,
    channels: int,
    resize: transforms.Size | None,
    center_crop: transforms.Size | None,
) -> torch.Tensor:
    x = load_image(path, channels).unsqueeze(0)  # (1, C, H, W)
    if resize is not None:
        x = transforms.resize(x, resize)
    if center_crop is not None:
        h, w = transforms.pair(center_crop, "center_crop")
        if h > x.shape[-2] or w > x.shape[-1]:
            raise DataError(
                f"{path} is {x.shape[-2]}x{x.shape[-1]} (after resize), smaller than "
                f"center_crop {h}x{w}"
            )
        x = transforms.center_crop(x, (h, w))
    return x[0]


def load_folder(
    folder: str | Path,
    channels: int | None = None,
    resize: transforms.Size | None = None,
    center_crop: transforms.Size | None = None,
    random_crop: transforms.Size | None = None,
) -> torch.Tensor:
    """Load every image under a folder into one uint8 tensor.

    Each image is decoded, converted to ``channels``, resized (int = shorter side, aspect
    kept; (h, w) = exact), then center-cropped. The random crop itself is not applied here
    (``ImageDataset.batch`` draws it per batch); it only allows images of different sizes:
    they are then center-cropped to their common (smallest) size, which must fit the crop.

    Args:
        folder: root folder, searched recursively (see ``list_images``).
        channels: 1, 3, or None to infer from the first image.
        resize: optional int or (h, w).
        center_crop: optional int or (h, w).
        random_crop: optional int or (h, w) the stored images must fit.

    Returns:
        uint8 tensor (N, C, H, W) in sorted path order.

    Raises:
        DataError: missing/empty folder, unreadable image, or images of different sizes
            with no resize/crop to reconcile them (the message names the offending file).
    """
    paths = list_images(folder)
    if channels is None:
        channels = load_image(paths[0]).shape[0]
    with ThreadPoolExecutor(_workers()) as pool:
        images = list(pool.map(lambda p: _load_one(p, channels, resize, center_crop), paths))
    sizes = [tuple(x.shape[-2:]) for x in images]
    if len(set(sizes)) > 1:
        if random_crop is None:
            odd = next(i for i, s in enumerate(sizes) if s != sizes[0])
            raise DataError(
                f"{paths[odd]} is {sizes[odd][0]}x{sizes[odd][1]} but {paths[0]} is "
                f"{sizes[0][0]}x{sizes[0][1]}; pass resize or a crop size to use images of "
                "different sizes"
            )
        common = (min(s[0] for s in sizes), min(s[1] for s in sizes))
        images = [transforms.center_crop(x, common) for x in images]
    if random_crop is not None:
        h, w = transforms.pair(random_crop, "random_crop")
        height, width = images[0].shape[-2:]
        if h > height or w > width:
            raise DataError(
                f"random_crop {h}x{w} does not fit the {height}x{width} images in {folder}"
            )
    return torch.stack(images)

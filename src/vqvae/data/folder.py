"""Folders of image files: listing them and loading them into one uint8 tensor.

Reading and writing one image file is ``vqvae.media.image``; its names are also here, as
before (``load_image``, ``save_image``, ``infer_channels``, ...).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
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


NOT_REGULAR = "not a regular file (a pipe, a device or a broken link)"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _workers() -> int:
    return min(8, os.cpu_count() or 1)


def list_images(folder: str | Path, warn: Callable[[str], None] | None = None) -> list[Path]:
    """All image files under ``folder``, recursively, in sorted order.

    Hidden files and folders (names starting with ".") are skipped; other files with
    non-image extensions are ignored; a name with an image extension that is not a regular
    file (a FIFO, a device, a broken link) is skipped with a warning line.

    Args:
        folder: the root folder.
        warn: where a warning line goes (default: stderr).

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
        elif not path.is_dir():
            (warn or _stderr)(f"warning: skipped {rel.as_posix()}: {NOT_REGULAR}")
    if not found:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {folder}")
    return [path for _, path in sorted(found)]


def _fit(
    image: torch.Tensor,
    path: Path,
    resize: transforms.Size | None,
    center_crop: transforms.Size | None,
) -> torch.Tensor:
    """A decoded image (C, H, W) resized and center-cropped."""
    x = image.unsqueeze(0)  # (1, C, H, W)
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
    warn: Callable[[str], None] | None = None,
) -> torch.Tensor:
    """Load every image under a folder into one uint8 tensor.

    Each image is decoded, converted to ``channels``, resized (int = shorter side, aspect
    kept; (h, w) = exact), then center-cropped. The random crop itself is not applied here
    (``ImageDataset.batch`` draws it per batch); it only allows images of different sizes:
    they are then center-cropped to their common (smallest) size, which must fit the crop.
    An unreadable image is skipped with one warning line, ``warning: skipped NAME: REASON``
    (as streaming skips it).

    Args:
        folder: root folder, searched recursively (see ``list_images``).
        channels: 1, 3, or None to infer from the first readable image.
        resize: optional int or (h, w).
        center_crop: optional int or (h, w).
        random_crop: optional int or (h, w) the stored images must fit.
        warn: where a warning line goes (default: stderr).

    Returns:
        uint8 tensor (N, C, H, W) in sorted path order.

    Raises:
        DataError: missing/empty folder, no readable image, or images of different sizes
            with no resize/crop to reconcile them (the message names the offending file).
    """
    warn = warn or _stderr
    folder = Path(folder)
    paths = list_images(folder, warn)
    if channels is None:
        channels = _first_channels(folder, paths)

    def load(path: Path) -> torch.Tensor | str:
        try:
            image = load_image(path, channels)
        except DataError as exc:  # unreadable: skipped, as streaming skips it
            return _reason(exc, path)
        return _fit(image, path, resize, center_crop)

    with ThreadPoolExecutor(_workers()) as pool:
        loaded = list(pool.map(load, paths))
    for path, item in zip(paths, loaded, strict=True):
        if isinstance(item, str):
            warn(f"warning: skipped {path.relative_to(folder).as_posix()}: {item}")
    paths = [p for p, item in zip(paths, loaded, strict=True) if not isinstance(item, str)]
    images = [item for item in loaded if not isinstance(item, str)]
    if not images:
        raise DataError(f"no readable image in {folder}: {len(loaded)} tried")
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


def _first_channels(folder: Path, paths: list[Path]) -> int:
    """The channel count of the first readable image (DataError if none is)."""
    for path in paths:
        try:
            return load_image(path).shape[0]
        except DataError:
            continue
    raise DataError(f"no readable image in {folder}: {len(paths)} tried")


def _reason(exc: DataError, path: Path) -> str:
    """Why an image was skipped, in the words streaming uses (``not a readable image
    (REASON)``), without the path the warning line already names."""
    text = str(exc)
    prefix = f"cannot read image {path}: "
    if text.startswith(prefix):
        reason = text[len(prefix) :]
        return reason if reason == "not a readable image" else f"not a readable image ({reason})"
    return text.replace(f"{path} ", "", 1) if text.startswith(f"{path} ") else text

"""Image files: decoding to uint8 tensors (size checked from the header first) and atomic
saving. Pillow does the work; nothing here knows about datasets or models."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import DataError
from ..limits import MAX_PIXELS, check_max_pixels, check_pixels

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".webp")
"""File extensions a folder of images is recognised by."""

DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, Image.DecompressionBombError)
"""Everything Pillow may raise on a corrupt or unsupported file (UnidentifiedImageError is an
OSError; truncated streams give OSError/SyntaxError/EOFError; huge images raise
DecompressionBombError)."""

_SAVE_OPTIONS = {"WEBP": {"lossless": True}, "JPEG": {"quality": 95}}


def infer_channels(mode: str) -> int:
    """1 for grayscale Pillow modes ('1', 'L', 'I', 'I;16', 'F', 'LA'), else 3."""
    return 1 if Image.getmodebase(mode) == "L" else 3


def to_8bit(img: Image.Image, channels: int) -> Image.Image:
    """``img`` as 8-bit grayscale ('L', ``channels`` = 1) or RGB (3).

    16-bit grayscale is scaled (v / 257, rounded) rather than clipped at 255 as Pillow's own
    'I;16' -> 'L' conversion does; palette, alpha and other modes convert as Pillow does
    (alpha dropped).
    """
    if img.mode.startswith("I;16"):
        a = np.asarray(img, dtype=np.float64) / 257.0
        img = Image.fromarray(np.round(a).astype(np.uint8), mode="L")
    mode = "L" if channels == 1 else "RGB"
    return img if img.mode == mode else img.convert(mode)


_PILLOW_LIMIT = threading.Lock()


def open_image(path: Path | IO[bytes], max_pixels: int | None) -> Image.Image:
    """``Image.open`` (the header only) with our pixel limit in place of Pillow's own.

    Pillow warns about images over ``Image.MAX_IMAGE_PIXELS`` and refuses those over twice
    that; ``load_image`` checks ``max_pixels`` itself, so the warning is silenced, and an
    image that Pillow refuses but ``max_pixels`` allows is opened with Pillow's limit lifted.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.DecompressionBombError as exc:
            pillow_max = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            if max_pixels is not None and max_pixels <= pillow_max:
                found = re.search(r"\((\d+) pixels\)", str(exc))
                size = f"{found.group(1)} pixels" if found else f"over {pillow_max} pixels"
                what = path if isinstance(path, (str, os.PathLike)) else "image"  # not BytesIO
                raise DataError(
                    f"{what} is {size}, over the limit of {max_pixels} "
                    "(raise it with --max-pixels N)"
                ) from None
            with _PILLOW_LIMIT:  # the user asked for more than Pillow allows
                saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    return Image.open(path)
                finally:
                    Image.MAX_IMAGE_PIXELS = saved


def load_image(
    path: str | Path, channels: int | None = None, max_pixels: int | None = MAX_PIXELS
) -> torch.Tensor:
    """Decode one image file (EXIF orientation applied, alpha dropped).

    Args:
        path: a png/jpg/jpeg/webp/bmp (or any Pillow-readable) file.
        channels: 1 (grayscale), 3 (RGB), or None to keep the file's kind (grayscale modes
            '1', 'L', 'I', ... give 1, everything else 3).
        max_pixels: refuse an image larger than this many pixels (width x height), checked
            from the file's header before any pixel is decoded; None: no limit.

    Returns:
        uint8 tensor (C, H, W).

    Raises:
        DataError: the file is missing, is not a readable image or is over ``max_pixels``.
    """
    path = Path(path)
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1, 3 or None, got {channels!r}")
    check_max_pixels(max_pixels)
    try:
        with open_image(path, max_pixels) as img:
            check_pixels(*img.size, max_pixels, str(path), DataError)
            img.load()
            # in place and no conversion to the mode it has: a 64 MP photo's pixels are held
            # once by Pillow (256 MB as RGBX), not three times
            ImageOps.exif_transpose(img, in_place=True)
            c = channels if channels is not None else infer_channels(img.mode)
            img = to_8bit(img, c)
    except DataError:
        raise
    except FileNotFoundError as e:
        raise DataError(f"image file not found: {path}") from e
    except IsADirectoryError as e:
        raise DataError(f"{path} is a folder, not an image file") from e
    except DECODE_ERRORS as e:
        reason = "not a readable image" if isinstance(e, Image.UnidentifiedImageError) else e
        raise DataError(f"cannot read image {path}: {reason}".replace("\n", " ")) from e
    return torch.from_numpy(pixels_chw(img))


STRIP_PIXELS = 1 << 20
"""Pixels ``pixels_chw`` copies out of Pillow at a time."""


def pixels_chw(img: Image.Image) -> np.ndarray:
    """An 'L' or 'RGB' image's pixels as a new, writable uint8 (C, H, W) array.

    Copied a strip of rows at a time straight into channel-first order: a large image is held
    by Pillow and once more here, with no whole-image intermediate (``np.asarray`` on the
    whole image would hold its bytes twice more, then the transpose once more).
    """
    width, height = img.size
    channels = len(img.getbands())
    out = np.empty((channels, height, width), dtype=np.uint8)
    rows = max(1, STRIP_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        strip = np.asarray(img.crop((0, top, width, min(height, top + rows))), dtype=np.uint8)
        out[:, top : top + strip.shape[0]] = (
            strip[None] if strip.ndim == 2 else strip.transpose(2, 0, 1)
        )
    return out


def save_image(x: torch.Tensor | Image.Image, path: str | Path) -> None:
    """Write an image file atomically (temporary file in the same folder, then ``os.replace``).

    The format follows the extension; WebP is written lossless, JPEG at quality 95.
    Missing parent folders are created.

    Args:
        x: float (C, H, W) or (H, W) in [0, 1] (clamped), C = 1 or 3; uint8 is taken as is;
            or a PIL image ("L" or "RGB"), written as it is (no copy of its pixels).
        path: destination file, e.g. ``out/recon.png``.

    Raises:
        DataError: unknown extension or the file cannot be written.
    """
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"cannot save {path}: unknown image extension {path.suffix!r}")
    img = x if isinstance(x, Image.Image) else _tensor_to_pil(x)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:
            img.save(f, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
        os.replace(tmp, path)
    except (OSError, ValueError) as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e  # not the temp name
        raise DataError(f"cannot write image {path}: {reason}") from e


def _tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """float (C, H, W) / (H, W) in [0, 1] or uint8 -> an "L" or "RGB" PIL image."""
    x = x.detach().cpu()
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"save_image expects (C, H, W) with C in (1, 3), got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        x = x.float().clamp(0, 1).mul(255).round().to(torch.uint8)
    a = x.permute(1, 2, 0).numpy()
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)

"""Shape and channel transforms on uint8 image batches (N, C, H, W), shared by all loaders."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vqvae.errors import DataError

Size = int | tuple[int, int]

# Resizing a large dataset in one float32 call would need N*C*H*W*4 bytes; chunk it.
_RESIZE_CHUNK = 4096


def pair(size: Size, what: str = "size") -> tuple[int, int]:
    """Turn an int or (h, w) into a validated ``(h, w)`` tuple of positive ints."""
    if isinstance(size, int):
        size = (size, size)
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} must be an int or (height, width), got {size!r}") from e
    if h <= 0 or w <= 0:
        raise DataError(f"{what} must be positive, got {size!r}")
    return h, w


def resized_shape(height: int, width: int, size: Size) -> tuple[int, int]:
    """The (h, w) an image of ``height x width`` gets from ``resize(size)``.

    An int resizes the shorter side to ``size`` and keeps the aspect ratio (torchvision's
    convention); ``(h, w)`` is an exact size.
    """
    if isinstance(size, int):
        short = pair(size, "resize")[0]
        if height <= width:
            return short, max(1, int(short * width / height))
        return max(1, int(short * height / width)), short
    return pair(size, "resize")


def resize(x: torch.Tensor, size: Size) -> torch.Tensor:
    """Resize uint8 images with antialiased bicubic interpolation (close to Pillow's BICUBIC).

    Args:
        x: uint8 (N, C, H, W).
        size: int (shorter side, aspect kept) or (h, w).

    Returns:
        uint8 (N, C, h, w).
    """
    h, w = resized_shape(x.shape[-2], x.shape[-1], size)
    if (h, w) == tuple(x.shape[-2:]):
        return x
    out = torch.empty((*x.shape[:-2], h, w), dtype=torch.uint8)
    for i in range(0, len(x), _RESIZE_CHUNK):
        chunk = x[i : i + _RESIZE_CHUNK].float()
        y = F.interpolate(chunk, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
        out[i : i + _RESIZE_CHUNK] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def center_crop(x: torch.Tensor, size: Size) -> torch.Tensor:
    """Crop the central (h, w) window of images (N, C, H, W); the offset rounds down.

    Raises:
        DataError: the images are smaller than the crop.
    """
    h, w = pair(size, "center_crop")
    height, width = x.shape[-2:]
    if h > height or w > width:
        raise DataError(f"center_crop {h}x{w} is larger than the {height}x{width} images")
    top, left = (height - h) // 2, (width - w) // 2
    return x[..., top : top + h, left : left + w]


def random_crop(
    x: torch.Tensor, size: Size, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Crop a random (h, w) window from each image, one offset per image.

    Args:
        x: (B, C, H, W), any dtype.
        size: crop size, int or (h, w); must fit inside (H, W).
        generator: source of the offsets, for reproducible crops.

    Returns:
        (B, C, h, w), contiguous, same dtype and device as ``x``.
    """
    h, w = pair(size, "random_crop")
    batch, _, height, width = x.shape
    if h > height or w > width:
        raise DataError(f"random_crop {h}x{w} is larger than the {height}x{width} images")
    device = generator.device if generator is not None else torch.device("cpu")
    top = torch.randint(0, height - h + 1, (batch,), generator=generator, device=device)
    left = torch.randint(0, width - w + 1, (batch,), generator=generator, device=device)
    rows = (top.to(x.device)[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, h, 1)
    cols = (left.to(x.device)[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, w)
    b = torch.arange(batch, device=x.device)[:, None, None]
    # Advanced indices split by the channel slice put the broadcast dims first: (B, h, w, C).
    return x[b, :, rows, cols].permute(0, 3, 1, 2).contiguous()


def convert_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Convert uint8 images (N, C, H, W) between grayscale (C=1) and RGB (C=3).

    RGB -> gray uses Pillow's ITU-R 601-2 luma in the same fixed-point arithmetic, so a
    tensor and a ``PIL.Image.convert("L")`` of the same pixels agree exactly.
    """
    if channels is None or channels == x.shape[1]:
        return x
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if x.shape[1] != 3:
        raise DataError(f"cannot convert {x.shape[1]}-channel images to grayscale")
    rgb = x.to(torch.int32)
    luma = rgb[:, 0] * 19595 + rgb[:, 1] * 38470 + rgb[:, 2] * 7471 + 0x8000
    return (luma >> 16).to(torch.uint8).unsqueeze(1)

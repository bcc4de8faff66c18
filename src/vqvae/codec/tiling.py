"""Tiled coding: an image cut into square tiles that the VQ-VAE encodes and decodes one by one.

A model trained on whole small images (28x28 digits, 32x32 CIFAR pictures) sees each tile as it
saw its training images: the encoder and decoder stop at the tile's edge instead of reaching
into the neighbouring picture. A mosaic of such images, tiled at their size, is coded as its
pictures would be coded alone, sharing one header.

Tile ``(i, j)`` covers pixel rows ``i*T .. min((i+1)*T, H)`` and columns ``j*T ..``; ``T`` is a
multiple of the model's factor ``f``, so tiles meet on the code grid and the code map has the
same shape as without tiling (only the last row/column of tiles can be smaller, and only they
are padded). Tiles of one shape run as one batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError

Box = tuple[int, int, int, int]  # y0, y1, x0, x1


def check_tile(tile: int, factor: int) -> None:
    """Raise DataError unless ``tile`` is a positive multiple of the downsampling factor."""
    if tile < factor or tile % factor:
        raise DataError(
            f"tile must be a positive multiple of the downsampling factor {factor}, got {tile}"
        )


def effective_tile(tile: int | None, height: int, width: int) -> int:
    """0 when the image fits in one tile (tiling changes nothing there), else ``tile``."""
    return tile if tile and (height > tile or width > tile) else 0


def tile_groups(height: int, width: int, tile: int) -> dict[tuple[int, int], list[Box]]:
    """Tile boxes of an ``height x width`` grid grouped by shape, each group in raster order."""
    groups: dict[tuple[int, int], list[Box]] = {}
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            groups.setdefault((y1 - y0, x1 - x0), []).append((y0, y1, x0, x1))
    return groups


def _map_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, side: int, scale: Fraction
) -> torch.Tensor:
    """``fn`` on the ``side x side`` tiles of ``x``'s last two axes (same-shape tiles batched),
    its outputs put together with each tile's offset multiplied by ``scale``."""
    height, width = x.shape[-2:]
    out = None
    for boxes in tile_groups(height, width, side).values():
        result = fn(torch.stack([x[..., y0:y1, x0:x1] for y0, y1, x0, x1 in boxes]))
        if out is None:
            grid = (math.ceil(height * scale), math.ceil(width * scale))
            out = result.new_zeros(result.shape[1:-2] + grid)
        for part, (y0, _, x0, _) in zip(result, boxes, strict=True):
            r, c = int(y0 * scale), int(x0 * scale)
            out[..., r : r + part.shape[-2], c : c + part.shape[-1]] = part
    return out


def encode_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, factor: int
) -> torch.Tensor:
    """Run ``fn`` on the tiles of an image and put its outputs together on the code grid.

    Args:
        fn: (B, C, th, tw) tiles -> (B, *extra, ceil(th/f), ceil(tw/f)), e.g. ``model.encode``.
        x: the image (C, H, W).
        tile: tile side in pixels, a multiple of ``factor``.
        factor: the model's downsampling factor ``f``.

    Returns:
        (*extra, ceil(H/f), ceil(W/f)), what ``fn`` of the whole image has, tile by tile.
    """
    return _map_tiles(fn, x, tile, Fraction(1, factor))


def decode_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor], indices: torch.Tensor, tile: int, factor: int
) -> torch.Tensor:
    """Run ``fn`` on the code tiles of a map and put the pixels together.

    Args:
        fn: (B, *extra, th', tw') code tiles -> (B, C, th'*f, tw'*f), e.g. ``model.decode``.
        indices: the code map (*extra, H', W').
        tile: tile side in pixels (``tile / factor`` codes).
        factor: the model's downsampling factor ``f``.

    Returns:
        (C, H'*f, W'*f).
    """
    return _map_tiles(fn, indices, tile // factor, Fraction(factor))


# ---- bands: a large image encoded a strip at a time, the same code map with bounded memory ----

BAND_PIXELS = 1 << 21
"""Pixels of one band's own rows (2 megapixels): the encoder's activations stay ~100 MB."""


def receptive_field(encoder: nn.Module) -> int | None:
    """Rows of input that one output row of ``encoder`` depends on, at most: the receptive
    field of its convolutions in order (residual branches included). None if it holds
    anything but convolutions, activations and containers (then nothing is banded)."""
    rows, jump = 1, 1
    for module in encoder.modules():
        if isinstance(module, nn.Conv2d):
            rows += (module.kernel_size[0] - 1) * module.dilation[0] * jump
            jump *= module.stride[0]
        elif not isinstance(module, (nn.ReLU, nn.Sequential)) and list(module.children()) == []:
            return None
    return rows


def encode_bands(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    factor: int,
    encoder: nn.Module,
    band_pixels: int | None = None,
) -> torch.Tensor:
    """``fn(x[None])[0]`` computed on horizontal bands of a large image, in bounded memory.

    The image is padded to a multiple of ``factor`` as the model pads it (edge rows and
    columns at the bottom and right), then cut into bands of whole code rows; each band is
    encoded with ``halo`` extra rows above and below (the encoder's receptive field, rounded
    up to the factor) and only its own code rows are kept. Every kept code then sees exactly
    the pixels, and the zero padding at the image's edges, that it sees in the whole image:
    the map is the whole image's, as the same arithmetic on fewer rows computes it. Images of
    at most ``band_pixels`` pixels, and encoders that are not plain conv stacks, are encoded
    whole.

    Args:
        fn: (1, C, h, W') images -> (1, *extra, h/f, W'/f), e.g. ``model.encode``.
        x: the image (C, H, W).
        factor: the model's downsampling factor ``f``.
        encoder: the model's encoder (its receptive field sets the overlap).
        band_pixels: pixels of one band's own rows (None: ``BAND_PIXELS``).

    Returns:
        (*extra, ceil(H/f), ceil(W/f)).
    """
    band_pixels = band_pixels or BAND_PIXELS
    height, width = x.shape[-2:]
    field = receptive_field(encoder)
    if field is None or height * width <= band_pixels:
        return fn(x[None])[0]
    pad_h, pad_w = (-height) % factor, (-width) % factor
    if pad_h or pad_w:
        x = F.pad(x[None], (0, pad_w, 0, pad_h), mode="replicate")[0]
    height, width = x.shape[-2:]
    halo = math.ceil(field / factor) * factor
    rows = max(factor, band_pixels // width // factor * factor)
    parts = []
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        lo, hi = max(0, top - halo), min(height, bottom + halo)
        codes = fn(x[None, :, lo:hi])[0]
        first = (top - lo) // factor
        parts.append(codes[..., first : first + (bottom - top) // factor, :])
    return torch.cat(parts, dim=-2)

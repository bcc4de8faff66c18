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
from . import memory

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
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    side: int,
    scale: Fraction,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
    sink: Sink | None = None,
) -> torch.Tensor | None:
    """``fn`` on the ``side x side`` tiles of ``x``'s last two axes (same-shape tiles batched,
    at most ``BAND_PIXELS`` input values a batch), its outputs put together with each tile's
    offset multiplied by ``scale``, or each handed to ``sink(row, col, output)`` instead.
    ``prepare``: applied to each batch before ``fn`` (e.g. uint8 -> float)."""
    height, width = x.shape[-2:]
    out = None
    for boxes in tile_groups(height, width, side).values():
        y0, y1, x0, x1 = boxes[0]
        area = (y1 - y0) * (x1 - x0) * _values(x) * max(1, scale) ** 2  # output pixels, decoding
        per_batch = max(1, BAND_PIXELS // max(1, int(area)))
        for first in range(0, len(boxes), per_batch):
            batch = boxes[first : first + per_batch]
            tiles = torch.stack([x[..., y0:y1, x0:x1] for y0, y1, x0, x1 in batch])
            result = fn(prepare(tiles) if prepare is not None else tiles)
            for part, (y0, _, x0, _) in zip(result, batch, strict=True):
                r, c = int(y0 * scale), int(x0 * scale)
                if sink is not None:
                    sink(r, c, part)
                    continue
                if out is None:
                    grid = (math.ceil(height * scale), math.ceil(width * scale))
                    out = result.new_zeros(result.shape[1:-2] + grid)
                out[..., r : r + part.shape[-2], c : c + part.shape[-1]] = part
    return out


def _values(x: torch.Tensor) -> int:
    """Values per pixel of ``x`` (its axes before the last two)."""
    return max(1, math.prod(x.shape[:-2]))


Sink = Callable[[int, int, torch.Tensor], None]
"""Receives ``(row, col, pixels (C, h, w))``: one band or tile of a decoded image at its
place, instead of the whole image put together in memory."""


def encode_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    factor: int,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Run ``fn`` on the tiles of an image and put its outputs together on the code grid.

    Args:
        fn: (B, C, th, tw) tiles -> (B, *extra, ceil(th/f), ceil(tw/f)), e.g. ``model.encode``.
        x: the image (C, H, W).
        tile: tile side in pixels, a multiple of ``factor``.
        factor: the model's downsampling factor ``f``.
        prepare: applied to each batch of tiles before ``fn`` (e.g. uint8 -> float).

    Returns:
        (*extra, ceil(H/f), ceil(W/f)), what ``fn`` of the whole image has, tile by tile.
    """
    return _map_tiles(fn, x, tile, Fraction(1, factor), prepare)


def decode_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor],
    indices: torch.Tensor,
    tile: int,
    factor: int,
    sink: Sink | None = None,
) -> torch.Tensor | None:
    """Run ``fn`` on the code tiles of a map and put the pixels together.

    Args:
        fn: (B, *extra, th', tw') code tiles -> (B, C, th'*f, tw'*f), e.g. ``model.decode``.
        indices: the code map (*extra, H', W').
        tile: tile side in pixels (``tile / factor`` codes).
        factor: the model's downsampling factor ``f``.
        sink: receives each decoded tile ``(row, col, pixels)`` instead (returns None).

    Returns:
        (C, H'*f, W'*f), or None with a ``sink``.
    """
    return _map_tiles(fn, indices, tile // factor, Fraction(factor), sink=sink)


# ---- bands: a large image coded a strip at a time, the same codes and pixels in bounded memory --

BAND_PIXELS = 1 << 19
"""Pixels of one band's own rows (half a megapixel): the encoder's and decoder's activations
stay about 100 MB, whatever the image's size (a 64 MP photo peaks near 800 MB, against near
1 GB with bands of a megapixel, for about a tenth more time)."""


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


def decoder_reach(decoder: nn.Module) -> int | None:
    """Code rows above or below its own that one code row's pixels depend on, at most, for
    a decoder of convolutions and transposed convolutions (residual branches included);
    None for anything else (then nothing is banded)."""
    reach, scale = Fraction(0), Fraction(1)  # code rows per row of the current resolution
    for module in decoder.modules():
        if isinstance(module, nn.Conv2d):
            k, p, d = module.kernel_size[0], module.padding[0], module.dilation[0]
            reach += max(p, (k - 1) * d - p) * scale
            scale *= module.stride[0]
        elif isinstance(module, nn.ConvTranspose2d):
            k, p, d, s = (
                module.kernel_size[0],
                module.padding[0],
                module.dilation[0],
                module.stride[0],
            )
            reach += math.ceil(Fraction(max(p, (k - 1) * d - p), s)) * scale
            scale /= s
        elif not isinstance(module, (nn.ReLU, nn.Sequential)) and list(module.children()) == []:
            return None
    return math.ceil(reach)


def _band_rows(height: int, width: int, multiple: int, band_pixels: int) -> list[tuple[int, int]]:
    """``[top, bottom)`` rows of bands of about ``band_pixels`` pixels, tops on ``multiple``."""
    rows = max(multiple, band_pixels // max(1, width) // multiple * multiple)
    return [(top, min(top + rows, height)) for top in range(0, height, rows)]


def _as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float in [0, 1] (float input as it is), contiguous."""
    return (x.float().div(255) if x.dtype == torch.uint8 else x).contiguous()


def encode_bands(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    factor: int,
    encoder: nn.Module,
    band_pixels: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``fn(x[None])[0]`` computed on horizontal bands of a large image, in bounded memory.

    The image is padded to a multiple of ``factor`` as the model pads it (edge rows and
    columns at the bottom and right), then cut into bands of whole code rows; each band is
    encoded with ``halo`` extra rows above and below (the encoder's receptive field, rounded
    up to the factor) and only its own code rows are kept. Every kept code then sees exactly
    the pixels, and the zero padding at the image's edges, that it sees in the whole image:
    the map is the whole image's, as the same arithmetic on fewer rows computes it. Images of
    at most ``band_pixels`` pixels, and encoders that are not plain conv stacks, are encoded
    whole. A uint8 image is turned into floats a band at a time.

    Args:
        fn: (1, C, h, W') images -> (1, *extra, h/f, W'/f), e.g. ``model.encode``.
        x: the image (C, H, W): uint8 pixels, or floats in [0, 1].
        factor: the model's downsampling factor ``f``.
        encoder: the model's encoder (its receptive field sets the overlap).
        band_pixels: pixels of one band's own rows (None: ``BAND_PIXELS``).
        device: where ``fn`` runs (None: ``x``'s device).

    Returns:
        (*extra, ceil(H/f), ceil(W/f)).
    """
    band_pixels = band_pixels or BAND_PIXELS
    height, width = x.shape[-2:]
    field = receptive_field(encoder)
    if field is None or height * width <= band_pixels:
        return fn(_as_float(x).to(device or x.device)[None])[0]
    pad_h, pad_w = (-height) % factor, (-width) % factor
    halo = math.ceil(field / factor) * factor
    parts = []
    for top, bottom in _band_rows(height + pad_h, width + pad_w, factor, band_pixels):
        lo, hi = max(0, top - halo), min(height + pad_h, bottom + halo)
        band = _as_float(x[:, lo : min(hi, height)]).to(device or x.device)
        if pad_w or hi > height:  # the edge replication of the whole image, on this band
            band = F.pad(band[None], (0, pad_w, 0, hi - min(hi, height)), mode="replicate")[0]
        codes = fn(band[None])[0]
        first = (top - lo) // factor
        parts.append(codes[..., first : first + (bottom - top) // factor, :].clone())
        del band, codes
        memory.release()
    return torch.cat(parts, dim=-2)


def decode_bands(
    fn: Callable[[torch.Tensor], torch.Tensor],
    indices: torch.Tensor,
    factor: int,
    decoder: nn.Module,
    sink: Sink,
    band_pixels: int | None = None,
) -> None:
    """``fn(indices[None])[0]`` computed on horizontal bands of codes, handed to ``sink``.

    Each band of code rows is decoded with ``decoder_reach`` code rows above and below, and
    only its own rows of pixels are kept: the pixels of the whole map, as the same
    arithmetic on fewer rows computes them, with the memory of one band. Maps of at most
    ``band_pixels`` pixels, and decoders that are not conv stacks, are decoded whole.

    Args:
        fn: (1, [S,] h', W') codes -> (1, C, h'*f, W'*f), e.g. ``model.decode``.
        indices: the code map ([S,] H', W').
        factor: the model's downsampling factor ``f``.
        decoder: the model's decoder (its reach sets the overlap).
        sink: receives ``(row, 0, pixels (C, rows, W'*f))``, band after band, top to bottom.
        band_pixels: pixels of one band's own rows (None: ``BAND_PIXELS``).
    """
    band_pixels = band_pixels or BAND_PIXELS
    height, width = indices.shape[-2:]
    reach = decoder_reach(decoder)
    if reach is None or height * width * factor * factor <= band_pixels:
        sink(0, 0, fn(indices[None])[0])
        return
    for top, bottom in _band_rows(height, width * factor * factor, 1, band_pixels):
        lo, hi = max(0, top - reach), min(height, bottom + reach)
        pixels = fn(indices[None, ..., lo:hi, :])[0]
        sink(top * factor, 0, pixels[..., (top - lo) * factor : (bottom - lo) * factor, :])
        del pixels
        memory.release()

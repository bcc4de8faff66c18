"""Image grids for reconstructions and samples."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def image_grid(
    images: list[torch.Tensor] | torch.Tensor, ncol: int | None = None, pad: int = 2
) -> torch.Tensor:
    """Tile images (each (C, H, W) in [0, 1], sizes may differ) into one (C, H', W') grid.

    Cells are as large as the largest image; grayscale images are repeated to RGB when the
    batch mixes channel counts. Padding is white.
    """
    images = [img.detach().float().cpu().clamp(0, 1) for img in images]
    if not images:
        raise ValueError("image_grid needs at least one image")
    channels = max(img.shape[0] for img in images)
    images = [img.expand(channels, -1, -1) if img.shape[0] == 1 else img for img in images]
    cell_h = max(img.shape[1] for img in images)
    cell_w = max(img.shape[2] for img in images)
    ncol = ncol or math.ceil(math.sqrt(len(images)))
    nrow = math.ceil(len(images) / ncol)
    grid = torch.ones(channels, pad + nrow * (cell_h + pad), pad + ncol * (cell_w + pad))
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        img = F.pad(img, (0, cell_w - img.shape[2], 0, cell_h - img.shape[1]), value=1.0)
        top, left = pad + r * (cell_h + pad), pad + c * (cell_w + pad)
        grid[:, top : top + cell_h, left : left + cell_w] = img
    return grid


def comparison_grid(
    originals: list[torch.Tensor],
    reconstructions: list[torch.Tensor],
    captions: list[str],
    title: str = "",
    ncol: int = 4,
    min_size: int = 112,
) -> torch.Tensor:
    """A grid a person can read: (original, reconstruction) pairs side by side, upscaled
    (nearest neighbour) to at least ``min_size`` pixels high, each pair captioned (e.g. with
    its PSNR), under a title line that names the two columns.

    Args:
        originals, reconstructions: (C, H, W) images in [0, 1], pair by pair.
        captions: one line under each pair.
        title: the first line (default: "original | reconstruction").

    Returns:
        (3, H', W') image in [0, 1].
    """
    from PIL import Image, ImageDraw, ImageFont  # Pillow is a core dependency

    if not (len(originals) == len(reconstructions) == len(captions)) or not originals:
        raise ValueError("comparison_grid needs as many originals, reconstructions and captions")
    height = max(img.shape[1] for img in originals)
    scale = max(1, math.ceil(min_size / height))
    pairs = []
    for a, b in zip(originals, reconstructions, strict=True):
        pair = image_grid([a, b], ncol=2, pad=2)
        pairs.append(F.interpolate(pair[None], scale_factor=scale, mode="nearest")[0])
    font = ImageFont.load_default()
    line = 14  # pixels per text line of the default font
    cells = []
    for pair in pairs:
        canvas = torch.ones(3, pair.shape[1] + line + 4, pair.shape[2])
        canvas[:, : pair.shape[1]] = pair.expand(3, -1, -1)
        cells.append(canvas)
    grid = image_grid(cells, ncol=min(ncol, len(cells)), pad=8)
    body = Image.fromarray(grid.mul(255).round().byte().permute(1, 2, 0).numpy())
    draw = ImageDraw.Draw(body)
    cols = min(ncol, len(cells))
    cell_h, cell_w = max(c.shape[1] for c in cells), max(c.shape[2] for c in cells)
    for i, (pair, caption) in enumerate(zip(pairs, captions, strict=True)):
        r, c = divmod(i, cols)
        top, left = 8 + r * (cell_h + 8), 8 + c * (cell_w + 8)
        draw.text((left + 2, top + pair.shape[1] + 2), caption, fill=(0, 0, 0), font=font)
    header = Image.new("RGB", (body.width, 2 * line + 8), (255, 255, 255))
    hdraw = ImageDraw.Draw(header)
    hdraw.text((8, 4), title or "original | reconstruction", fill=(0, 0, 0), font=font)
    hdraw.text((8, 4 + line), "left: original, right: reconstruction", fill=(0, 0, 0), font=font)
    out = Image.new("RGB", (body.width, header.height + body.height), (255, 255, 255))
    out.paste(header, (0, 0))
    out.paste(body, (0, header.height))
    return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1).float() / 255

"""Image grids for reconstructions and samples."""

from __future__ import annotations

import math

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

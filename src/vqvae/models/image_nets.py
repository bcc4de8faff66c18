"""The 2-D architectures of image models: convolutional (the paper's) and fully connected
(the seed's MLP).

Each encoder maps x (B, C, H, W) to z_e (B, D, H/f, W/f); each decoder maps z_q back.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import VQVAEConfig
from .blocks import ResidualStack


def _stage_widths(config: VQVAEConfig) -> list[int]:
    """Channel width after each of the log2(f) strided stages (half width first, as in the paper)."""
    n = int(math.log2(config.downsample_factor))
    h = config.hidden_channels
    return [h // 2 if (i == 0 and n > 1) else h for i in range(n)]


class ConvEncoder(nn.Module):
    """Strided 4x4 convs (stride 2), a 3x3 conv, residual blocks, then a 1x1 to ``code_dim``."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = config.in_channels
        for out in _stage_widths(config):
            layers += [nn.Conv2d(width, out, 4, stride=2, padding=1), nn.ReLU()]
            width = out
        layers += [
            nn.Conv2d(width, config.hidden_channels, 3, padding=1),
            ResidualStack(config.hidden_channels, config.res_channels, config.num_res_blocks),
            nn.Conv2d(config.hidden_channels, config.quantizer.code_dim, 1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """Mirror of ``ConvEncoder``: 3x3 conv, residual blocks, transposed 4x4 convs (stride 2)."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        widths = _stage_widths(config)[::-1]
        layers: list[nn.Module] = [
            nn.Conv2d(config.quantizer.code_dim, config.hidden_channels, 3, padding=1),
            ResidualStack(config.hidden_channels, config.res_channels, config.num_res_blocks),
        ]
        width = config.hidden_channels
        outs = widths[1:] + [config.in_channels]
        for i, out in enumerate(outs):
            layers.append(nn.ConvTranspose2d(width, out, 4, stride=2, padding=1))
            if i < len(outs) - 1:
                layers.append(nn.ReLU())
            width = out
        if not outs:  # downsample_factor 1
            layers.append(nn.Conv2d(width, config.in_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.net(z_q)

    @property
    def output_layer(self) -> nn.Module:
        """The layer that gives the image (a transposed conv, or a 3x3 conv at f = 1)."""
        return self.net[-1]


class MLPEncoder(nn.Module):
    """Flattened image -> two hidden layers -> a (D, H/f, W/f) grid of latents."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        h, w = config.image_size
        f = config.downsample_factor
        self.grid = (h // f, w // f)
        self.code_dim = config.quantizer.code_dim
        hidden = config.hidden_channels * 4
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(config.in_channels * h * w, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, self.code_dim * self.grid[0] * self.grid[1]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0], self.code_dim, *self.grid)


class MLPDecoder(nn.Module):
    """Mirror of ``MLPEncoder``."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        h, w = config.image_size
        f = config.downsample_factor
        self.shape = (config.in_channels, h, w)
        hidden = config.hidden_channels * 4
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(config.quantizer.code_dim * (h // f) * (w // f), hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, config.in_channels * h * w),
        )

    def forward(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.net(z_q).view(z_q.shape[0], *self.shape)

    @property
    def output_layer(self) -> nn.Module:
        """The linear layer that gives the pixels."""
        return self.net[-1]

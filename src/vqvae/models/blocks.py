"""Building blocks of the encoder and decoder."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))), as in van den Oord et al. 2017, section 4.1."""

    def __init__(self, channels: int, res_channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, res_channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(res_channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResidualStack(nn.Sequential):
    """``num_blocks`` residual blocks followed by a ReLU."""

    def __init__(self, channels: int, res_channels: int, num_blocks: int) -> None:
        super().__init__(
            *[ResidualBlock(channels, res_channels) for _ in range(num_blocks)], nn.ReLU()
        )

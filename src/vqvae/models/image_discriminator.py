"""A patch discriminator for images (PatchGAN, Isola et al. 2017; as VQGAN uses it, Esser et
al. 2021).

The shape of taming-transformers' ``NLayerDiscriminator``: strided 4x4 convolutions with
leaky ReLUs (slope 0.2), then two 4x4 convolutions of stride 1, the last giving one logit
per patch. Batch norm is replaced by spectral norm (Miyato et al. 2018) on every
convolution: a judgement then does not depend on the rest of the batch, so it is the same
under DDP (each rank judging its slice) as in one process, and the discriminator stays
Lipschitz-bounded. Its power iteration depends on the weights only, so ranks holding the
same weights keep the same estimates.

    x (B, C, H, W) in [0, 1] -> centred to [-1, 1] (replicate-padded up to MIN_SIZE)
      -> conv4 s2 (C -> ch) -> [conv4 s2 (width x 2)] x (layers - 1)
      -> conv4 s1 (width x 2) -> conv4 s1 (-> 1): logits (B, 1, H', W')

With the default two strided layers each logit sees a 34 x 34 patch (``receptive_field``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

CHANNELS = 32
"""Feature maps of the first convolution (taming: 64; 32 keeps a CPU step cheap)."""
LAYERS = 2
"""Strided convolutions (taming: 3, for 256 x 256 images; 2 suits 28-64 pixel images)."""
MAX_MULTIPLIER = 8  # widths grow x 2 a layer up to CHANNELS x 8, as taming's
SLOPE = 0.2  # of the leaky ReLUs
KERNEL = 4


def receptive_field(layers: int = LAYERS) -> int:
    """Side in pixels of the patch each logit sees: ``layers`` 4x4 convs of stride 2, then
    two of stride 1 (34 for 2 layers, 70 for taming's 3)."""
    strides = [2] * layers + [1, 1]
    field, jump = 1, 1
    for stride in strides:
        field += (KERNEL - 1) * jump
        jump *= stride
    return field


def min_size(layers: int = LAYERS) -> int:
    """The smallest side that leaves one logit: smaller images are replicate-padded to it."""
    side = 1
    for _ in range(2):  # the two stride-1 convs (padding 1) each take one off
        side += 1
    for _ in range(layers):  # each strided conv: out = floor((n - 2) / 2) + 1
        side = 2 * side
    return side


class PatchDiscriminator(nn.Module):
    """Images (B, C, H, W) in [0, 1] -> [(logits (B, 1, H', W'), [feature maps])].

    The judgement is a list of one scale, the form the adversarial losses of
    ``models.discriminator`` take (the STFT discriminator gives one per scale).

    Args:
        in_channels: the images' channels.
        channels: feature maps of the first convolution.
        layers: strided convolutions (each halves the side).
    """

    def __init__(self, in_channels: int, channels: int = CHANNELS, layers: int = LAYERS) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        widths = [channels * min(2**i, MAX_MULTIPLIER) for i in range(layers + 1)]
        convs = [nn.Conv2d(in_channels, widths[0], KERNEL, 2, 1)]
        convs += [nn.Conv2d(widths[i - 1], widths[i], KERNEL, 2, 1) for i in range(1, layers)]
        convs.append(nn.Conv2d(widths[layers - 1], widths[layers], KERNEL, 1, 1))
        self.convs = nn.ModuleList(spectral_norm(conv) for conv in convs)
        self.out = spectral_norm(nn.Conv2d(widths[layers], 1, KERNEL, 1, 1))
        self.min_size = min_size(layers)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        if x.dim() != 4:
            raise ValueError(f"expected images (B, C, H, W), got {tuple(x.shape)}")
        h = 2 * x.float() - 1  # (B, C, H, W) in [-1, 1]
        pad_h, pad_w = (max(0, self.min_size - s) for s in h.shape[2:])
        if pad_h or pad_w:  # a tiny crop: one logit over the whole of it
            h = F.pad(h, (0, pad_w, 0, pad_h), mode="replicate")
        features = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), SLOPE)
            features.append(h)
        return [(self.out(h), features)]

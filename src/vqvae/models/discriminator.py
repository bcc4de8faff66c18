"""The discriminators of adversarial training and their losses, for every modality.

``build_discriminator`` picks the model's: a patch discriminator for images
(``models.image_discriminator``), a multi-scale STFT discriminator for audio. Both judge a
batch as a list of (logits, feature maps), one per scale, so the same hinge losses and
feature matching (below) train either.

The audio one, as in neural audio codecs (EnCodec, Defossez et al. 2022; DAC, Kumar et al.
2023), judges complex spectrograms at several resolutions: each scale stacks 2-D
convolutions over (real, imaginary) STFT planes, strided along frequency and dilated along
time, and returns a map of logits and its intermediate feature maps. The decoder of either
modality is trained to fool its discriminator (hinge loss) and to match its features on the
real signal (feature matching, relative L1): both reward detail that a pixel or spectral
distance averages away.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..config import VQVAEConfig
from .image_discriminator import PatchDiscriminator

DEFAULT_FFTS = (128, 256, 512)
"""STFT sizes of the scales: 16, 32 and 64 ms windows at 8 kHz."""
CHANNELS = 16
"""Feature maps per convolution (EnCodec: 32; 16 keeps a CPU step about twice a plain one)."""
SLOPE = 0.2  # of the leaky ReLUs


class STFTDiscriminator(nn.Module):
    """One scale: x (B, 1, T) -> STFT (Hann window of n_fft, hop n_fft / 4) as 2 planes ->
    convolutions -> (logits (B, 1, frames, bins'), [feature maps])."""

    def __init__(
        self, n_fft: int, channels: int = CHANNELS, dilations: tuple[int, ...] = (1, 2, 4)
    ):
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        convs = [weight_norm(nn.Conv2d(2, channels, (3, 9), padding=(1, 4)))]
        for d in dilations:  # time is dim 2, frequency dim 3
            convs.append(
                weight_norm(
                    nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(d, 4), dilation=(d, 1))
                )
            )
        convs.append(weight_norm(nn.Conv2d(channels, channels, 3, padding=1)))
        self.convs = nn.ModuleList(convs)
        self.out = weight_norm(nn.Conv2d(channels, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = x.reshape(x.shape[0], -1).float()
        spec = torch.stft(
            x, self.n_fft, self.hop, self.n_fft, self.window, True, "constant", return_complex=True
        )  # (B, bins, frames), centred frames (zero padding: any length)
        h = torch.stack([spec.real, spec.imag], dim=1).transpose(2, 3)  # (B, 2, frames, bins)
        features = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), SLOPE)
            features.append(h)
        return self.out(h), features


class MultiScaleSTFTDiscriminator(nn.Module):
    """One ``STFTDiscriminator`` per STFT size; returns a list of (logits, features)."""

    def __init__(self, ffts: tuple[int, ...] = DEFAULT_FFTS, channels: int = CHANNELS) -> None:
        super().__init__()
        self.scales = nn.ModuleList(STFTDiscriminator(n, channels) for n in ffts)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        return [scale(x) for scale in self.scales]


Judgement = list[tuple[torch.Tensor, list[torch.Tensor]]]


def build_discriminator(config: VQVAEConfig) -> nn.Module:
    """The discriminator of a model's signal (``config.modality``): a ``PatchDiscriminator``
    over ``config.in_channels`` for images, a ``MultiScaleSTFTDiscriminator`` for audio;
    either maps a batch to a ``Judgement``."""
    if config.modality == "audio":
        return MultiScaleSTFTDiscriminator()
    return PatchDiscriminator(config.in_channels)


def discriminator_loss(real: Judgement, fake: Judgement) -> torch.Tensor:
    """Hinge loss of the discriminator, mean over scales: relu(1 - D(x)) + relu(1 + D(x^))."""
    total = sum(
        F.relu(1 - r).mean() + F.relu(1 + f).mean()
        for (r, _), (f, _) in zip(real, fake, strict=True)
    )
    return total / len(real)


def generator_loss(fake: Judgement) -> torch.Tensor:
    """Hinge loss of the generator, mean over scales: relu(1 - D(x^))."""
    return sum(F.relu(1 - f).mean() for f, _ in fake) / len(fake)


def feature_matching_loss(real: Judgement, fake: Judgement, eps: float = 1e-8) -> torch.Tensor:
    """Mean over scales and layers of |f(x) - f(x^)|.mean() / |f(x)|.mean(): 0 when the
    discriminator sees the same features; the real features are constants (no gradient)."""
    terms = [
        (r.detach() - f).abs().mean() / r.detach().abs().mean().clamp_min(eps)
        for (_, real_features), (_, fake_features) in zip(real, fake, strict=True)
        for r, f in zip(real_features, fake_features, strict=True)
    ]
    return sum(terms) / len(terms)

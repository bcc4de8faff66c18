"""What differs between modalities, held by the one ``VQVAE``: input checks, padding,
centring, cropping, the reconstruction loss and rate figures.

A signal object knows nothing of the architecture beyond the decoder's interface
(``decoder(z_q)``; for the phase loss, the istft decoder's ``spectrum`` / ``samples``).
A new modality adds a signal here, an architecture, a reader in ``media`` and its metrics.

    ImageSignal: x (B, C, H, W) in [0, 1]; padded by edge replication to a multiple of the
        downsampling factor, centred to [-0.5, 0.5] for the encoder; MSE.
    AudioSignal: x (B, 1, T) in [-1, 1]; padded with silence to a multiple of the hop;
        multi-resolution STFT + waveform L1 (+ phase); rate figures in frames per second.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import VQVAEConfig
from . import losses


class ImageSignal:
    """Images (B, C, H, W) in [0, 1]; codes on a grid (B, H / f, W / f)."""

    kind = "image"
    code_dims = 2  # spatial axes of a code map
    value_range = (0.0, 1.0)

    def __init__(self, config: VQVAEConfig) -> None:
        self.config = config
        self.factor = config.downsample_factor

    def check(self, x: torch.Tensor) -> None:
        """ValueError unless ``x`` is a batch of images this model takes."""
        channels = self.config.in_channels
        if x.dim() != 4 or x.shape[1] != channels:
            raise ValueError(
                f"expected images of shape (B, {channels}, H, W), got {tuple(x.shape)}"
            )
        size = self.config.image_size
        if self.config.arch == "mlp" and tuple(x.shape[2:]) != tuple(size):
            raise ValueError(
                f"this MLP model takes {size[0]}x{size[1]} images, got {x.shape[2]}x{x.shape[3]}"
            )

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Edge-replicate the bottom and right to a multiple of the factor."""
        f = self.factor
        pad_h, pad_w = (-x.shape[2]) % f, (-x.shape[3]) % f
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        return x

    def to_encoder(self, x: torch.Tensor) -> torch.Tensor:
        """Checked, padded and centred input of the encoder."""
        self.check(x)
        return self.pad(x) - 0.5

    def from_decoder(self, y: torch.Tensor) -> torch.Tensor:
        return y + 0.5

    def crop(self, x_hat: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``x_hat`` cropped to the spatial size of ``like``."""
        return x_hat[..., : like.shape[2], : like.shape[3]]

    def reconstruct_for_loss(
        self, decoder: nn.Module, z_q: torch.Tensor, x: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(x_hat cropped to x, reconstruction loss against target, logged parts)."""
        x_hat = self.crop(self.from_decoder(decoder(z_q)), x)
        return x_hat, losses.image_loss(x_hat, target), {}


class AudioSignal:
    """Mono waveforms (B, 1, T) in [-1, 1]; codes in time (B, L), L = ceil(T / hop)."""

    kind = "audio"
    code_dims = 1
    value_range = (-1.0, 1.0)

    def __init__(self, config: VQVAEConfig) -> None:
        self.config = config
        self.factor = config.hop_length
        self.phase_weight = config.phase_weight

    @property
    def sample_rate(self) -> int:
        return int(self.config.sample_rate)

    @property
    def hop_length(self) -> int:
        """Samples per code frame (the product of the strides)."""
        return self.factor

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != 1 or x.shape[2] < 1:
            raise ValueError(f"expected mono audio of shape (B, 1, T), got {tuple(x.shape)}")

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Silence after the end, to a multiple of the hop."""
        pad = (-x.shape[-1]) % self.factor
        return F.pad(x, (0, pad)) if pad else x

    def to_encoder(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        return self.pad(x)

    def from_decoder(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def crop(self, x_hat: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return x_hat[..., : like.shape[-1]]

    def reconstruct_for_loss(
        self, decoder: nn.Module, z_q: torch.Tensor, x: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(x_hat cropped to x, reconstruction loss, logged parts): multi-resolution STFT +
        ``L1_WEIGHT`` x waveform L1 + ``phase_weight`` x the phase loss when set; the parts
        "stft", "l1", "mse" and "phase" (when set) are detached, for logging."""
        phase = {}  # "phase": its loss, when the config weighs one (istft decoder only)
        if self.phase_weight:
            log_magnitude, predicted = decoder.spectrum(z_q)
            x_hat = self.crop(decoder.samples(log_magnitude, predicted), x)
            phase["phase"] = losses.phase_loss(predicted, target, decoder.frame_hop, decoder.window)
        else:
            x_hat = self.crop(self.from_decoder(decoder(z_q)), x)
        stft = losses.multi_resolution_stft_loss(x_hat, target)
        l1 = F.l1_loss(x_hat.float(), target.float())
        reconstruction = stft + losses.L1_WEIGHT * l1 + self.phase_weight * phase.get("phase", 0.0)
        parts = {
            "stft": stft.detach(),
            "l1": l1.detach(),
            "mse": F.mse_loss(x_hat.detach().float(), target.float()),
            **{name: value.detach() for name, value in phase.items()},
        }
        return x_hat, reconstruction, parts


Signal = ImageSignal | AudioSignal

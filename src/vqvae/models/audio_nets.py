"""The 1-D architectures of audio models: a strided convolutional encoder over mono
waveforms with residual units, in the spirit of SoundStream (Zeghidour et al. 2021) and
EnCodec (Defossez et al. 2022), sized for a CPU, and two decoders.

    x (B, 1, T) in [-1, 1], T a multiple of hop = prod(strides)
      -> conv7 -> [residual units (dilation 1, 3, 9, ...), strided conv (width x 2)] per stride
      -> conv3 -> z_e (B, D, T / hop)

Two decoders (``config.audio_decoder``): "conv", the encoder's mirror (transposed strided
convs and residual units at every rate up to the sample rate), and "istft" (Vocos, Siuzdak
2023): ConvNeXt blocks at a frame rate of 2 frames per code, whose last layer predicts each
frame's log-magnitude and phase spectrum, turned into samples by an inverse STFT. The second
spends its compute at the frame rate, where a CPU runs wide layers cheaply, and learns faster.
The training losses are in ``models.losses``; what is particular to waveforms (padding,
rate figures) in ``models.signal.AudioSignal``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import VQVAEConfig, istft_frames


def _dilations(units: int) -> list[int]:
    return [3**i for i in range(units)]


class ResidualUnit1d(nn.Module):
    """x + conv1x1(elu(conv7_dilated(elu(x)))), the dilated conv at half width."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        half = max(channels // 2, 1)
        self.block = nn.Sequential(
            nn.ELU(),
            nn.Conv1d(channels, half, 7, dilation=dilation, padding=3 * dilation),
            nn.ELU(),
            nn.Conv1d(half, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def init_weights(encoder: nn.Module, decoder: nn.Module, output_gain: float = 0.1) -> None:
    """Variance-preserving init (He normal with a linear gain, zero biases), the decoder's last
    conv scaled by ``output_gain``. PyTorch's default init shrinks a quiet waveform (speech at
    about 0.05 RMS) layer by layer until the biases dominate z_e: every frame then lies near
    one point and the codebooks collapse to a code or two in the first steps."""
    conv_decoder = isinstance(decoder, AudioDecoder)  # "istft" keeps PyTorch's init
    for module in (*encoder.modules(), *(decoder.modules() if conv_decoder else ())):
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="linear")
            nn.init.zeros_(module.bias)
    if conv_decoder:
        last = [m for m in decoder.modules() if isinstance(m, nn.Conv1d)][-1]
        with torch.no_grad():
            last.weight.mul_(output_gain)


def _padding(stride: int) -> tuple[int, int]:
    """(padding, output_padding) of a kernel-2s conv so lengths scale by exactly s."""
    pad = (stride + 1) // 2
    return pad, 2 * pad - stride


class AudioEncoder(nn.Module):
    """(B, 1, T) with T a multiple of the hop -> z_e (B, D, T / hop)."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        width = config.hidden_channels
        layers: list[nn.Module] = [nn.Conv1d(1, width, 7, padding=3)]
        for stride in config.strides:
            layers += [ResidualUnit1d(width, d) for d in _dilations(config.num_res_blocks)]
            pad, _ = _padding(stride)
            layers += [nn.ELU(), nn.Conv1d(width, 2 * width, 2 * stride, stride, pad)]
            width *= 2
        layers += [nn.ELU(), nn.Conv1d(width, config.quantizer.code_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AudioDecoder(nn.Module):
    """Mirror of ``AudioEncoder``: z_q (B, D, L) -> (B, 1, L * hop)."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        width = config.hidden_channels << len(config.strides)
        layers: list[nn.Module] = [nn.Conv1d(config.quantizer.code_dim, width, 7, padding=3)]
        for stride in reversed(config.strides):
            pad, extra = _padding(stride)
            layers += [
                nn.ELU(),
                nn.ConvTranspose1d(width, width // 2, 2 * stride, stride, pad, extra),
            ]
            width //= 2
            layers += [ResidualUnit1d(width, d) for d in _dilations(config.num_res_blocks)]
        layers += [nn.ELU(), nn.Conv1d(width, 1, 7, padding=3)]
        self.net = nn.Sequential(*layers)

    def forward(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.net(z_q)

    @property
    def output_layer(self) -> nn.Module:
        """The conv that gives the waveform."""
        return self.net[-1]


class ConvNeXtBlock1d(nn.Module):
    """x + gamma * Linear(GELU(Linear(LayerNorm(depthwise_conv7(x))))) over (B, C, L), the
    hidden layer 3C wide (Liu et al. 2022; Vocos)."""

    def __init__(self, channels: int, layer_scale: float) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.expand = nn.Linear(channels, 3 * channels)
        self.project = nn.Linear(3 * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.depthwise(x).transpose(1, 2))
        y = self.gamma * self.project(F.gelu(self.expand(y)))
        return x + y.transpose(1, 2)


class ISTFTDecoder(nn.Module):
    """z_q (B, D, L) -> (B, 1, L * hop): conv7 to ``hidden_channels << len(strides)``
    channels, a transposed conv to the frame rate (2 frames a code), ``num_res_blocks``
    ConvNeXt blocks, a linear layer to log-magnitude and phase of n_fft / 2 + 1 bins per
    frame, inverse STFT (Hann window, centred frames)."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        width = config.hidden_channels << len(config.strides)
        self.frame_hop, self.n_fft = istft_frames(config.hop_length)
        self.upsample = config.hop_length // self.frame_hop
        self.input = nn.Conv1d(config.quantizer.code_dim, width, 7, padding=3)
        if self.upsample > 1:
            pad, extra = _padding(self.upsample)
            self.to_frames = nn.ConvTranspose1d(
                width, width, 2 * self.upsample, self.upsample, pad, extra
            )
        self.input_norm = nn.LayerNorm(width)
        blocks = max(config.num_res_blocks, 1)
        self.blocks = nn.Sequential(*(ConvNeXtBlock1d(width, 1.0 / blocks) for _ in range(blocks)))
        self.output_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, self.n_fft + 2)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def spectrum(self, z_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z_q (B, D, L) -> (log-magnitude, phase), each (B, n_fft / 2 + 1, 2 L + 1): the
        centred STFT frames (hop ``frame_hop``) of the 2 L x ``frame_hop`` output samples."""
        x = self.input(z_q)
        if self.upsample > 1:
            x = self.to_frames(x)
        x = self.blocks(self.input_norm(x.transpose(1, 2)).transpose(1, 2))
        x = F.pad(x, (0, 1), mode="replicate")  # one more frame: istft then gives frames x hop
        spectrum = self.head(self.output_norm(x.transpose(1, 2))).transpose(1, 2).float()
        bins = self.n_fft // 2 + 1
        return spectrum[:, :bins], spectrum[:, bins:]

    def samples(self, log_magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """The output (B, 1, (F - 1) x frame_hop) of a ``spectrum`` (F frames)."""
        frames = log_magnitude.shape[-1] - 1
        return spectrum_to_samples(
            log_magnitude, phase, self.frame_hop, self.window, frames
        ).unsqueeze(1)

    def forward(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.samples(*self.spectrum(z_q))

    @property
    def output_layer(self) -> nn.Module:
        """The linear layer that gives each frame's spectrum (the inverse STFT has no weights)."""
        return self.head


def spectrum_to_samples(
    log_magnitude: torch.Tensor,
    phase: torch.Tensor,
    hop: int,
    window: torch.Tensor,
    frames: int,
) -> torch.Tensor:
    """Inverse STFT of a spectrum given as log-magnitude and phase (B, n_fft / 2 + 1, F):
    centred frames of ``window`` (n_fft long) every ``hop`` samples -> (B, frames x hop)
    samples (F = frames + 1). The log-magnitude is clamped at 8 (a magnitude of e^8, far
    above a full-scale sine's) so that an untrained network cannot overflow."""
    magnitude = torch.exp(log_magnitude.clamp(max=8.0))
    spectrum = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
    n_fft = window.shape[0]
    return torch.istft(spectrum, n_fft, hop, window=window, center=True, length=frames * hop)


def build_audio_decoder(config: VQVAEConfig) -> nn.Module:
    """The decoder ``config.audio_decoder`` names ("conv" when unset), sized by ``config``
    (pass ``decoder_config()`` for a decoder of its own size)."""
    return ISTFTDecoder(config) if config.audio_decoder == "istft" else AudioDecoder(config)

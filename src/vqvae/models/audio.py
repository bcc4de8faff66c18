"""The audio VQ-VAE: a strided 1-D convolutional encoder/decoder over mono waveforms with
residual units, in the spirit of SoundStream (Zeghidour et al. 2021) and EnCodec (Defossez
et al. 2022), sized for a CPU.

    x (B, 1, T) in [-1, 1]
      -> zero-pad the end to L * hop (L = ceil(T / hop), hop = prod(strides))
      -> conv7 -> [residual units (dilation 1, 3, 9, ...), strided conv (width x 2)] per stride
      -> conv3 -> z_e (B, D, L)
      -> quantizer (residual VQ: indices (B, S, L)) -> z_q
      -> decoder -> x_hat (B, 1, L * hop), cropped to T

Two decoders (``config.audio_decoder``): "conv", the encoder's mirror (transposed strided
convs and residual units at every rate up to the sample rate), and "istft" (Vocos, Siuzdak
2023): ConvNeXt blocks at a frame rate of 2 frames per code, whose last layer predicts each
frame's log-magnitude and phase spectrum, turned into samples by an inverse STFT. The second
spends its compute at the frame rate, where a CPU runs wide layers cheaply, and learns faster.

Trained on waveform L1 + a multi-resolution STFT loss (spectral convergence + log-magnitude
L1, Yamamoto et al. 2020) + the quantizer's loss. With residual VQ and quantizer dropout one
model codes at several bitrates: ``decode(indices[:, :k])`` uses the first k stages.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import VQVAEConfig, istft_frames
from .vqvae import VQVAE, VQVAEOutput

STFT_RESOLUTIONS = ((512, 128), (256, 64), (128, 32), (64, 16))
"""(n_fft, hop) of the multi-resolution STFT loss, for 8-16 kHz speech (Hann windows)."""
L1_WEIGHT = 1.0
"""Weight of the waveform L1 term beside the STFT term (weight 1)."""


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


def stft_magnitude(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT| of (B, T) signals: Hann window of n_fft, centred frames (reflect padding when
    the signal is long enough, zeros otherwise) -> (B, n_fft // 2 + 1, frames)."""
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    if x.shape[-1] <= n_fft // 2:  # reflect padding needs a longer signal
        x = F.pad(x, (n_fft // 2, n_fft // 2))
        spec = torch.stft(x, n_fft, hop, window=window, center=False, return_complex=True)
    else:
        spec = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)
    return spec.abs()


def multi_resolution_stft_loss(
    x_hat: torch.Tensor,
    x: torch.Tensor,
    resolutions: tuple[tuple[int, int], ...] = STFT_RESOLUTIONS,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Mean over resolutions of spectral convergence ||S - S^||_F / ||S||_F (per batch) plus
    the mean |log(S + eps) - log(S^ + eps)|; x, x_hat (B, 1, T) or (B, T)."""
    x, x_hat = x.reshape(-1, x.shape[-1]).float(), x_hat.reshape(-1, x_hat.shape[-1]).float()
    total = x.new_zeros(())
    for n_fft, hop in resolutions:
        s, s_hat = stft_magnitude(x, n_fft, hop), stft_magnitude(x_hat, n_fft, hop)
        convergence = torch.linalg.norm(s - s_hat) / torch.linalg.norm(s).clamp_min(eps)
        log_mag = (torch.log(s + eps) - torch.log(s_hat + eps)).abs().mean()
        total = total + convergence + log_mag
    return total / len(resolutions)


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The training's waveform loss of a reconstruction: multi-resolution STFT +
    ``L1_WEIGHT`` x waveform L1; x, x_hat (B, 1, T) or (B, T)."""
    return multi_resolution_stft_loss(x_hat, x) + L1_WEIGHT * F.l1_loss(x_hat.float(), x.float())


def _anti_wrapped(x: torch.Tensor) -> torch.Tensor:
    """|x| after wrapping to [-pi, pi]: the distance between two angles x apart."""
    return (x - 2 * math.pi * torch.round(x / (2 * math.pi))).abs()


def phase_loss(
    phase: torch.Tensor, target: torch.Tensor, hop: int, window: torch.Tensor
) -> torch.Tensor:
    """Phase loss of a predicted STFT phase (B, n_fft / 2 + 1, F) against the phase of the
    target (B, 1, T) or (B, T), framed as the istft decoder frames its output (centred
    frames of ``window`` every ``hop`` samples over the first (F - 1) x hop samples): the
    sum of three anti-wrapped errors (as in APNet, Ai and Ling 2023), each a mean weighted by
    the target's magnitude over its mean (so silence and noise, whose phase nothing can
    predict, count little): instantaneous phase, group delay (the phase's difference
    between neighbouring bins) and phase advance (between neighbouring frames). Zero when
    ``phase`` equals the target's up to multiples of 2 pi."""
    n_fft, frames = window.shape[0], phase.shape[-1]
    length = (frames - 1) * hop
    x = target.reshape(target.shape[0], -1).float()[:, :length]
    x = F.pad(x, (0, length - x.shape[-1]))
    spec = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)
    true, weight = torch.angle(spec), spec.abs()
    weight = weight / weight.mean(dim=(1, 2), keepdim=True).clamp_min(1e-8)
    instantaneous = (_anti_wrapped(phase - true) * weight).mean()
    group_delay = _anti_wrapped(phase.diff(dim=1) - true.diff(dim=1)) * weight[:, 1:]
    advance = _anti_wrapped(phase.diff(dim=2) - true.diff(dim=2)) * weight[..., 1:]
    return instantaneous + group_delay.mean() + advance.mean()


class AudioVQVAE(VQVAE):
    """The VQ-VAE over mono waveforms (``config.modality == "audio"``).

    Shapes: x (B, 1, T) float in [-1, 1], any T >= 1; indices (B, S, L) with
    L = ceil(T / hop_length) (S = 1 quantizers: (B, L)); ``decode`` gives (B, 1, L * hop).
    ``VQVAE.from_pretrained`` returns this class for audio run dirs.
    """

    def __init__(self, config: VQVAEConfig, assignment=None) -> None:
        super().__init__(config, assignment)
        init_weights(self.encoder, self.decoder)

    @property
    def sample_rate(self) -> int:
        return int(self.config.sample_rate)

    @property
    def hop_length(self) -> int:
        """Samples per code frame (the product of the strides)."""
        return self.config.hop_length

    @property
    def downsample_factor(self) -> int:
        return self.hop_length

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def num_stages(self) -> int:
        """Codebooks per frame (residual VQ stages; 1 for single-codebook quantizers)."""
        return int(getattr(self.quantizer, "num_stages", 1))

    @property
    def bits_per_code(self) -> float:
        return math.log2(self.quantizer.codebook_size)

    def bitrate(self, stages: int | None = None) -> float:
        """Bits per second of ``stages`` stages (default all) at a fixed log2(K) bits a code,
        before entropy coding."""
        stages = self.num_stages if stages is None else stages
        return self.frames_per_second * stages * self.bits_per_code

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != 1 or x.shape[2] < 1:
            raise ValueError(f"expected mono audio of shape (B, 1, T), got {tuple(x.shape)}")

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        pad = (-x.shape[-1]) % self.hop_length
        return F.pad(x, (0, pad)) if pad else x  # silence after the end

    def encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, T) -> z_e (B, D, ceil(T / hop))."""
        self._check_input(x)
        return self.encoder(self._pad(x))

    def decode_latents(self, z_q: torch.Tensor) -> torch.Tensor:
        """z_q (B, D, L) -> x_hat (B, 1, L * hop)."""
        return self.decoder(z_q)

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> VQVAEOutput:
        """Reconstruct ``x`` (B, 1, T) and compute the training losses: "reconstruction"
        (multi-resolution STFT + L1_WEIGHT x waveform L1, + ``config.phase_weight`` x
        ``phase_loss`` when set), "stft", "l1", "mse", "phase" (when set) and the
        quantizer's."""
        if target is not None and target.shape != x.shape:
            raise ValueError(
                f"target must have the input's shape {tuple(x.shape)}, got {tuple(target.shape)}"
            )
        target = x if target is None else target
        z_e = self.encode_latents(x)
        q = self._quantize(z_e)
        phase = {}  # "phase": its loss, when the config weighs one (istft decoder only)
        if self.config.phase_weight:
            log_magnitude, predicted = self.decoder.spectrum(q.z_q)
            x_hat = self.decoder.samples(log_magnitude, predicted)[..., : x.shape[-1]]
            decoder = self.decoder
            phase["phase"] = phase_loss(predicted, target, decoder.frame_hop, decoder.window)
        else:
            x_hat = self.decode_latents(q.z_q)[..., : x.shape[-1]]
        stft = multi_resolution_stft_loss(x_hat, target)
        l1 = F.l1_loss(x_hat.float(), target.float())
        reconstruction = stft + L1_WEIGHT * l1 + self.config.phase_weight * phase.get("phase", 0.0)
        return VQVAEOutput(
            x_hat=x_hat,
            z_e=z_e,
            z_q=q.z_q,
            indices=q.indices,
            loss=reconstruction + q.loss,
            losses={
                "reconstruction": reconstruction,
                "stft": stft.detach(),
                "l1": l1.detach(),
                "mse": F.mse_loss(x_hat.detach().float(), target.float()),
                "quantizer": q.loss,
                "codebook": q.codebook_loss,
                "commitment": q.commitment_loss,
                **{name: value.detach() for name, value in phase.items()},
            },
            perplexity=q.perplexity,
        )

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (B, 1, T) in [-1, 1] -> code ids (B, S, ceil(T / hop)) int64 ((B, L) for a
        single-codebook quantizer). Call ``model.eval()`` first (``from_pretrained`` does)."""
        return self._quantize(self.encode_latents(x)).indices

    @torch.no_grad()
    def decode(self, indices: torch.Tensor, stages: int | None = None) -> torch.Tensor:
        """Code ids (B, k, L), k <= S (the first k stages; ids < 0 are dropped stages) ->
        audio (B, 1, L * hop), unclipped: crop to the input's length and clamp to [-1, 1].

        Args:
            stages: decode with only the first ``stages`` stages (None: all that are given).
        """
        if self.num_stages > 1:
            if indices.dim() != 3 or not 1 <= indices.shape[1] <= self.num_stages:
                raise ValueError(
                    f"expected indices (B, k, L) with 1 <= k <= {self.num_stages}, "
                    f"got {tuple(indices.shape)}"
                )
            if stages is not None:
                if not 1 <= stages <= self.num_stages:
                    raise ValueError(f"stages must be in [1, {self.num_stages}], got {stages}")
                indices = indices[:, :stages]
            missing = self.num_stages - indices.shape[1]
            if missing:
                indices = F.pad(indices, (0, 0, 0, missing), value=-1)
        return self.decode_latents(self.quantizer.embed(indices))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, stages: int | None = None) -> torch.Tensor:
        """decode(encode(x)) with the first ``stages`` stages, cropped to T and clamped to
        [-1, 1]: (B, 1, T) -> (B, 1, T)."""
        return self.decode(self.encode(x), stages)[..., : x.shape[-1]].clamp(-1, 1)


def is_audio(model_or_config) -> bool:
    """Whether a model (or its ``VQVAEConfig``) is an audio model."""
    config = getattr(model_or_config, "config", model_or_config)
    return getattr(config, "modality", "image") == "audio"

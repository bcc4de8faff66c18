"""Training losses, apart from the architectures they train.

Images: mean squared error against the target. Speech: a multi-resolution STFT loss
(spectral convergence + log-magnitude L1, Yamamoto et al. 2020) + ``L1_WEIGHT`` x waveform
L1, and optionally a phase loss on the istft decoder's predicted phase (APNet). The
quantizer's own terms (codebook, commitment) come from the quantizer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

STFT_RESOLUTIONS = ((512, 128), (256, 64), (128, 32), (64, 16))
"""(n_fft, hop) of the multi-resolution STFT loss, for 8-16 kHz speech (Hann windows)."""
L1_WEIGHT = 1.0
"""Weight of the waveform L1 term beside the STFT term (weight 1)."""


def image_loss(x_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a reconstruction (B, C, H, W) against its target, in fp32."""
    return F.mse_loss(x_hat.float(), target.float())


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


def waveform_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
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

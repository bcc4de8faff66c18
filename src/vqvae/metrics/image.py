"""Image-quality metrics. Images are float tensors in [0, 1], (B, C, H, W)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def mse(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error, (B,)."""
    return (x.float() - x_hat.float()).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, x_hat: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB, (B,); ``x_hat`` is clipped to [0, data_range] first."""
    err = mse(x, x_hat.clamp(0, data_range)).clamp_min(1e-12)
    return 10 * torch.log10(data_range**2 / err)


def _gaussian_window(size: int, sigma: float, device, dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) with an 11x11 Gaussian window (sigma 1.5), (B,).

    Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False, data_range=1)``: statistics over 'valid' windows, averaged
    over pixels and channels. Windows shrink to the image for images under 11 pixels.
    """
    x = x.float()
    y = x_hat.float().clamp(0, data_range)
    win_size = min(win_size, x.shape[-1], x.shape[-2])
    if win_size % 2 == 0:
        win_size -= 1
    c = x.shape[1]
    window = _gaussian_window(win_size, sigma, x.device, x.dtype).expand(c, 1, win_size, win_size)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x**2
    var_y = filt(y * y) - mu_y**2
    cov = filt(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return s.flatten(1).mean(1)


def bits_to_bpp(bits: float, height: int, width: int) -> float:
    """Bits per pixel of ``bits`` spent on a ``height x width`` image."""
    return bits / (height * width)


def psnr_from_mse(value: float, data_range: float = 1.0) -> float:
    """PSNR in dB of a mean squared error (floored at 1e-12)."""
    return 10 * math.log10(data_range**2 / max(value, 1e-12))

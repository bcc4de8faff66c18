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


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli, Bovik 2003


def ms_ssim_scales(height: int, width: int, win_size: int = 11, max_scales: int = 5) -> int:
    """How many MS-SSIM scales an image allows: each scale (the image halved, rounding up) must
    still hold one ``win_size`` window. 5 from 161 pixels on the smaller side (pytorch-msssim's
    own bound), 2 for CIFAR (32) and MNIST (28), 1 under ``2 * win_size``."""
    side, scales = min(height, width), 1
    while scales < max_scales:
        side = (side + 1) // 2
        if side < win_size:
            break
        scales += 1
    return scales


def _ssim_and_cs(x, y, window, c1, c2):
    """Per-channel means of the SSIM and contrast-structure maps, (B, C) each ('valid' windows)."""
    c = x.shape[1]

    def filt(t):
        return F.conv2d(t, window, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x**2
    var_y = filt(y * y) - mu_y**2
    cov = filt(x * y) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (luminance * cs).flatten(2).mean(-1), cs.flatten(2).mean(-1)


def ms_ssim(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Per-image multi-scale SSIM (Wang, Simoncelli, Bovik 2003), (B,).

    Five scales with the paper's weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), an 11x11
    Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03; per channel, contrast-structure at the
    first scales and SSIM at the last, negative terms clipped to 0, the product of their
    weighted powers averaged over channels; 2x2 average pooling between scales (zero-padded
    by one pixel on an odd side). On images of 161 pixels or more (smaller side) this is
    exactly ``pytorch_msssim.ms_ssim(..., size_average=False)``.

    Smaller images, where pytorch-msssim and ``tf.image.ssim_multiscale`` refuse: only the
    scales that still hold a whole window are used (``ms_ssim_scales``: 2 for CIFAR 32x32 and
    MNIST 28x28), with the first weights renormalised to sum to 1 and the window kept at 11
    (what pytorch-msssim computes with ``weights=`` those weights, were its fixed
    161-pixel check lifted); with one scale it is SSIM (clipped at 0), and under 11 pixels
    the window shrinks to the image, as ``ssim``'s does.
    ``x_hat`` is clipped to [0, data_range] first; float64 inputs are measured in float64,
    others in float32.
    """
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x = x.to(dtype)
    y = x_hat.to(dtype).clamp(0, data_range)
    height, width = x.shape[-2:]
    win_size = min(win_size, height, width)
    if win_size % 2 == 0:
        win_size -= 1
    scales = ms_ssim_scales(height, width, win_size)
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    if scales < len(MS_SSIM_WEIGHTS):
        weights = weights / weights.sum()
    c = x.shape[1]
    window = _gaussian_window(win_size, sigma, x.device, x.dtype).expand(c, 1, win_size, win_size)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    terms = []
    for scale in range(scales):
        ssim_c, cs_c = _ssim_and_cs(x, y, window, c1, c2)
        if scale < scales - 1:
            terms.append(cs_c.relu())
            padding = [s % 2 for s in x.shape[-2:]]
            x = F.avg_pool2d(x, 2, padding=padding)
            y = F.avg_pool2d(y, 2, padding=padding)
    terms.append(ssim_c.relu())
    stacked = torch.stack(terms).double()  # (scales, B, C)
    return stacked.pow(weights.to(x.device).view(-1, 1, 1)).prod(0).mean(1).to(dtype)


def bits_to_bpp(bits: float, height: int, width: int) -> float:
    """Bits per pixel of ``bits`` spent on a ``height x width`` image."""
    return bits / (height * width)


def psnr_from_mse(value: float, data_range: float = 1.0) -> float:
    """PSNR in dB of a mean squared error (floored at 1e-12)."""
    return 10 * math.log10(data_range**2 / max(value, 1e-12))

"""Evaluate an image VQ-VAE on a dataset split: distortion (MSE, PSNR, SSIM) and code usage,
and on request (``fid``) MS-SSIM and the Fréchet distance ``fd_vqvae``."""

from __future__ import annotations

import torch

from ..device import autocast_for
from ..errors import VQVAEError
from ..metrics import (
    GaussianStatistics,
    code_statistics,
    frechet_distance_of,
    ms_ssim,
    mse,
    psnr,
    ssim,
)
from ..models import VQVAE
from ..models.features import FeatureNet
from ..progress import Progress


@torch.no_grad()
def evaluate_images(
    model: VQVAE,
    dataset,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    fid: bool = False,
) -> dict[str, float]:
    """Reconstruct every image of ``dataset`` (an ``ImageDataset`` or a streamed one) in
    eval mode, ``batch_size`` images at a time.

    Returns:
        mse, nmse (MSE / variance of the data), psnr (mean per-image dB), ssim (mean),
        perplexity, usage (fraction of codes used over the split), bits_per_code (entropy of
        the split's code histogram). Multi-codebook quantizers (residual, grouped) count each
        stage's codes separately (``quantizer.code_ids``), over ``quantizer.num_codes`` codes.
        With ``fid``, also ms_ssim (mean) and fd_vqvae (``FeatureScores``).
    """
    scores = FeatureScores(device) if fid else None
    device = torch.device(device)
    was_training = model.training
    model.eval()
    n = len(dataset)
    quantizer = model.quantizer
    k = quantizer.num_codes
    counts = torch.zeros(k, dtype=torch.long, device=device)
    sq_err = psnr_sum = ssim_sum = 0.0
    pix_sum = pix_sq = 0.0
    n_pix = 0
    progress = Progress(n, "evaluating", "img")
    seen = 0  # a streamed dataset leaves unreadable images out of its batches
    for start in range(0, n, batch_size):
        end = min(start + batch_size, n)
        x = dataset.batch(torch.arange(start, end)).to(device)
        progress.update(end - start)
        seen += len(x)
        if not len(x):
            continue
        with autocast_for(device):
            out = model(x)
        x_hat = out.x_hat.float()
        sq_err += float(mse(x, x_hat.clamp(0, 1)).sum())
        psnr_sum += float(psnr(x, x_hat).sum())
        ssim_sum += float(ssim(x, x_hat).sum())
        counts += torch.bincount(quantizer.code_ids(out.indices), minlength=k)
        if scores is not None:
            scores.update(x, x_hat)
        pix_sum += float(x.double().sum())
        pix_sq += float(x.double().pow(2).sum())
        n_pix += x.numel()
    progress.close()
    model.train(was_training)
    n = max(seen, 1)
    mean_mse = sq_err / n
    variance = pix_sq / n_pix - (pix_sum / n_pix) ** 2
    stats = code_statistics(counts.cpu())
    extra = scores.result() if scores is not None else {}
    return {
        "mse": mean_mse,
        "nmse": mean_mse / max(variance, 1e-12),
        "psnr": psnr_sum / n,
        "ssim": ssim_sum / n,
        "perplexity": stats["perplexity"],
        "usage": stats["usage"],
        "bits_per_code": stats["bits_per_code"],
        **extra,
    }


SCORING_NET = "fd_vqvae"


class FeatureScores:
    """MS-SSIM and ``fd_vqvae`` of reconstructions, accumulated batch by batch.

    ``fd_vqvae`` is the Fréchet distance between Gaussians fitted to the pooled 256-d features
    of the real and of the reconstructed images in the project's own scoring net (a small
    CIFAR-10 classifier, ``pretrained/fd_vqvae/MODEL.md``): grayscale images are replicated
    to 3 channels; images of at most 32x32 pixels (CIFAR, MNIST's 28x28) are resized to the
    net's 32x32 (bilinear, antialiased), larger ones are cut into whole 32x32 tiles, each
    one sample (patch FID, as HiFiC scores large images), so that detail is not resized away.
    It is *not* Inception FID: compare it only with itself, on the same images and count
    (a Fréchet distance of samples is biased upwards, more so for fewer samples).
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.net = FeatureNet.from_pretrained(SCORING_NET, device)
        self.real = GaussianStatistics(self.net.feature_dim)
        self.fake = GaussianStatistics(self.net.feature_dim)
        self.ms_ssim_sum = 0.0
        self.images = 0

    def update(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        """Add a batch of images and their reconstructions, (B, C, H, W) in [0, 1]."""
        x_hat = x_hat.float().clamp(0, 1)
        self.real.update(self.net.embed(_tiles(x.float())))
        self.fake.update(self.net.embed(_tiles(x_hat)))
        self.ms_ssim_sum += float(ms_ssim(x, x_hat).sum())
        self.images += len(x)

    def result(self) -> dict[str, float]:
        """{"ms_ssim": mean over images, "fd_vqvae": distance}; VQVAEError under 2 samples."""
        if self.real.n < 2:
            raise VQVAEError("--fid needs at least 2 images")
        return {
            "ms_ssim": self.ms_ssim_sum / self.images,
            "fd_vqvae": frechet_distance_of(self.real, self.fake),
        }


def _tiles(x: torch.Tensor, side: int = 32) -> torch.Tensor:
    """(B, C, H, W) -> the whole side x side tiles of each image, (B * n, C, side, side),
    image by image in raster order; images with a side under ``side``, or just one tile,
    are returned as they are (the scoring net resizes them)."""
    b, c, h, w = x.shape
    if min(h, w) < side or (h == side and w == side):
        return x
    rows, cols = h // side, w // side
    x = x[:, :, : rows * side, : cols * side].reshape(b, c, rows, side, cols, side)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b * rows * cols, c, side, side)

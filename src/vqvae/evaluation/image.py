"""Evaluate an image VQ-VAE on a dataset split: distortion (MSE, PSNR, SSIM) and code usage."""

from __future__ import annotations

import torch

from ..device import autocast_for
from ..metrics import code_statistics, mse, psnr, ssim
from ..models import VQVAE
from ..progress import Progress


@torch.no_grad()
def evaluate_images(
    model: VQVAE,
    dataset,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Reconstruct every image of ``dataset`` (an ``ImageDataset`` or a streamed one) in
    eval mode, ``batch_size`` images at a time.

    Returns:
        mse, nmse (MSE / variance of the data), psnr (mean per-image dB), ssim (mean),
        perplexity, usage (fraction of codes used over the split), bits_per_code (entropy of
        the split's code histogram). Multi-codebook quantizers (residual, grouped) count each
        stage's codes separately (``quantizer.code_ids``), over ``quantizer.num_codes`` codes.
    """
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
        pix_sum += float(x.double().sum())
        pix_sq += float(x.double().pow(2).sum())
        n_pix += x.numel()
    progress.close()
    model.train(was_training)
    n = max(seen, 1)
    mean_mse = sq_err / n
    variance = pix_sq / n_pix - (pix_sum / n_pix) ** 2
    stats = code_statistics(counts.cpu())
    return {
        "mse": mean_mse,
        "nmse": mean_mse / max(variance, 1e-12),
        "psnr": psnr_sum / n,
        "ssim": ssim_sum / n,
        "perplexity": stats["perplexity"],
        "usage": stats["usage"],
        "bits_per_code": stats["bits_per_code"],
    }

"""Evaluate a VQ-VAE on a dataset split, whatever its signal: ``evaluate(model, dataset)``
reconstructs the split and measures it with the metrics of the model's modality (images:
``image.evaluate_images``; sound: ``audio.evaluate_audio``), plus the usage of its codes."""

from __future__ import annotations

import torch

from ..errors import VQVAEError
from ..models import is_audio
from .audio import evaluate_audio
from .image import evaluate_images

__all__ = ["evaluate", "evaluate_audio", "evaluate_images", "summary"]


def evaluate(
    model,
    dataset,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    stages: int | None = None,
    fid: bool = False,
) -> dict[str, float]:
    """Reconstruct every item of ``dataset`` with ``model`` in eval mode and measure it.

    Args:
        model: an image or audio VQ-VAE; its modality picks the metrics.
        dataset: a split of the model's kind of data (``ImageDataset``, a streamed image
            dataset, or ``AudioDataset``).
        batch_size: images per batch (audio is evaluated one whole clip at a time).
        device: where the model runs.
        stages: audio (residual VQ) only: decode with the first ``stages`` stages, a lower
            bitrate (None: all).
        fid: images only: also MS-SSIM and the Fréchet distance ``fd_vqvae`` in the
            project's scoring net (``image.FeatureScores``; not Inception FID).

    Returns:
        For images, ``evaluate_images``'s mse, nmse, psnr, ssim (with ``fid``: ms_ssim,
        fd_vqvae); for audio,
        ``evaluate_audio``'s snr, lsd, pesq, stoi, bits_per_second, stages; for both,
        perplexity, usage and bits_per_code of the codes.

    Raises:
        VQVAEError: ``stages`` for an image model, or out of [1, the model's stages];
            ``fid`` for an audio model.
    """
    if is_audio(model):  # whole clips, speech metrics
        if fid:
            raise VQVAEError("--fid is for image models (fd_vqvae scores images)")
        return evaluate_audio(model, dataset, device, stages)
    if stages is not None:
        raise VQVAEError("stages is for audio models")
    return evaluate_images(model, dataset, batch_size, device, fid)


def summary(result: dict[str, float]) -> str:
    """One line of the main numbers of an ``evaluate`` result."""
    if "pesq" in result:
        return (
            f"snr {result['snr']:.2f} dB, pesq {result['pesq']:.2f}, stoi {result['stoi']:.3f} "
            f"at {result['bits_per_second']:.0f} bit/s, usage {result['usage']:.2f}"
        )
    return f"psnr {result['psnr']:.2f} dB, nmse {result['nmse']:.4f}, usage {result['usage']:.2f}"

"""Metrics by modality: images (``image``: MSE, PSNR, SSIM, MS-SSIM, bits per pixel;
``frechet``: the Fréchet distance of feature statistics), sound (``audio``: SNR,
log-spectral distance, PESQ-NB, STOI, bits per second), and the usage of a codebook, shared
by both (``codes``). Every name is also here: ``vqvae.metrics.psnr``."""

from .audio import (
    PESQ_RATE,
    audio_metrics,
    bits_per_second,
    log_spectral_distance,
    pesq_nb,
    snr,
    stoi,
)
from .codes import code_statistics
from .frechet import GaussianStatistics, frechet_distance, frechet_distance_of
from .image import bits_to_bpp, ms_ssim, mse, psnr, psnr_from_mse, ssim

__all__ = [
    "PESQ_RATE",
    "GaussianStatistics",
    "audio_metrics",
    "bits_per_second",
    "bits_to_bpp",
    "code_statistics",
    "frechet_distance",
    "frechet_distance_of",
    "log_spectral_distance",
    "ms_ssim",
    "mse",
    "pesq_nb",
    "psnr",
    "psnr_from_mse",
    "snr",
    "ssim",
    "stoi",
]

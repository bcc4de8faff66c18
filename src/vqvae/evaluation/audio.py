"""Evaluate an audio VQ-VAE on whole clips: SNR, log-spectral distance, PESQ-NB, STOI and
bits per second (metrics from ``vqvae.metrics.audio``)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..errors import VQVAEError
from ..metrics import audio_metrics, code_statistics
from ..progress import Progress


@torch.no_grad()
def evaluate_audio(
    model,
    dataset,
    device: torch.device | str = "cpu",
    stages: int | None = None,
) -> dict[str, float]:
    """Reconstruct every clip of ``dataset`` (an ``AudioDataset``, one whole clip at a time)
    with ``model`` (an ``AudioVQVAE``) in eval mode, with its first ``stages`` residual stages
    (None: all).

    Returns:
        snr, lsd (dB), pesq (PESQ-NB, over the clips where PESQ finds speech), stoi (means over
        clips); bits_per_second (frames/s x stages x log2 K: the rate before entropy coding);
        stages; perplexity, usage, bits_per_code of the codes (each stage counted separately).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    rate = model.sample_rate
    if dataset.sample_rate != rate:
        raise ValueError(f"the data is at {dataset.sample_rate} Hz, the model codes {rate} Hz")
    if stages is not None and (
        isinstance(stages, bool)
        or not isinstance(stages, int)
        or not 1 <= stages <= model.num_stages
    ):
        raise VQVAEError(f"stages must be in [1, {model.num_stages}], got {stages!r}")
    stages = model.num_stages if stages is None else stages
    quantizer = model.quantizer
    counts = torch.zeros(quantizer.num_codes, dtype=torch.long)
    scores: dict[str, list[float]] = {"snr": [], "lsd": [], "pesq": [], "stoi": []}
    progress = Progress(len(dataset), "evaluating", "clip")
    for i in range(len(dataset)):
        x = dataset.clip(i).to(device)
        indices = model.encode(x)
        if indices.dim() == 3:  # residual stages: those after the first ``stages`` dropped
            indices[:, stages:] = -1
        x_hat = model.decode(indices)[..., : x.shape[-1]].clamp(-1, 1)
        counts += torch.bincount(quantizer.code_ids(indices.cpu()), minlength=quantizer.num_codes)
        result = _metrics(x[0, 0].cpu(), x_hat[0, 0].cpu(), rate)
        for key, value in result.items():
            scores[key].append(value)
        progress.update()
    progress.close()
    model.train(was_training)
    stats = code_statistics(counts)
    snrs, pesq = np.array(scores["snr"]), np.array(scores["pesq"])
    return {
        "snr": float(np.mean(np.where(np.isinf(snrs), 100.0, snrs))),
        "lsd": float(np.mean(scores["lsd"])),
        "pesq": math.nan if np.isnan(pesq).all() else float(np.nanmean(pesq)),
        "stoi": float(np.mean(scores["stoi"])),
        "bits_per_second": float(model.bitrate(stages)),
        "stages": stages,
        "perplexity": stats["perplexity"],
        "usage": stats["usage"],
        "bits_per_code": stats["bits_per_code"],
    }


def _metrics(reference: torch.Tensor, decoded: torch.Tensor, rate: int) -> dict[str, float]:
    """``vqvae.metrics.audio_metrics`` (PESQ NaN on a clip under 0.25 s: FSDD has 0.14 s ones)."""
    with warnings.catch_warnings():  # pystoi on a clip of mostly silence: STOI 1e-5, said once
        warnings.filterwarnings("ignore", message="Not enough STFT frames")
        return audio_metrics(reference, decoded, rate)

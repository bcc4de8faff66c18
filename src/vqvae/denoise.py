"""Denoising by projection onto the codebook: encode -> snap to the nearest codes -> decode.

    noisy x (B, C, H, W) -> encoder -> z_e -> nearest code -> z_q -> decoder -> x_hat

A decoder can only produce images built from its K codes, so whatever the codebook cannot
express (noise, salt-and-pepper dots, occlusions it never saw) is replaced by the nearest
thing it can. A model trained with ``--train-noise`` (corrupted input, clean target) has an
encoder that has learned to map corrupted images to the codes of their clean versions; the
same function denoises with both kinds of model.
"""

from __future__ import annotations

import torch

from .models import VQVAE


@torch.no_grad()
def denoise(
    model: VQVAE, x: torch.Tensor, iterations: int = 0, batch_size: int = 256
) -> torch.Tensor:
    """Project images through the model's codebook.

    Args:
        model: a trained VQ-VAE (run in eval mode; its state is not changed).
        x: corrupted images, float (B, C, H, W) in [0, 1], on the model's device.
        iterations: extra refinement passes: project the output again this many times
            (x_hat <- decode(encode(x_hat))); 0 is a single projection.
        batch_size: images per forward pass.

    Returns:
        Restored images, float (B, C, H, W) in [0, 1].
    """
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    was_training = model.training
    model.eval()
    try:
        parts = []
        for chunk in x.split(batch_size):
            y = chunk.float()
            for _ in range(iterations + 1):
                y = model.decode(model.encode(y))[..., : x.shape[2], : x.shape[3]].clamp(0, 1)
            parts.append(y)
    finally:
        model.train(was_training)
    return torch.cat(parts) if parts else x.float().clone()

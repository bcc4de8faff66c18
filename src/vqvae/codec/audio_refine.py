"""Analysis-by-synthesis code choice for speech (``vqvae compress --refine-steps N``).

The encoder maps a sound to latents in one pass, and each latent frame gets its nearest
codes. Those are good codes, not the best ones: the encoder is an amortised guess, and the
decoder is what the listener hears. The codec can instead search for the codes whose
*decoded* sound is closest to the input, as CELP speech coders choose their excitation by
synthesising it (Schroeder and Atal 1985):

    z <- encoder(x)
    repeat N times:   codes = quantize(z)  (the first k stages)
                      loss  = training loss of decoder(codes) against x
                      z    <- Adam step on z, the gradient passing straight through the
                              quantizer as in training

and keep the codes of the step with the lowest loss (step 0 is the encoder's own codes,
so the loss never gets worse). Only the encoder side changes: the decoder decodes these
codes as any others, so refined files need nothing new to decode. Each step costs a decoder
pass forward and back: a 50-step search takes about as long as the sound on one CPU thread
(longer on a busy machine). Long sounds are refined in windows of ``CHUNK_FRAMES`` code frames, each with
``MARGIN_FRAMES`` of decoded context on either side, one window after the other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.losses import waveform_loss
from ..progress import Progress

REFINE_LR = 0.03
"""Adam's step size, as a fraction of the standard deviation of the encoder's latents."""
CHUNK_FRAMES = 1000
"""Code frames refined together (20 s at 50 frames a second)."""
MARGIN_FRAMES = 25
"""Code frames of fixed context decoded on either side of a window (the decoder's reach)."""


def _codes(model, z: torch.Tensor, stages: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``stages`` stages' codes of latents z (1, D, L): (indices (1, k, L), their
    quantized latents (1, D, L))."""
    indices = model._quantize(z).indices
    if indices.dim() == 2:  # a single-codebook quantizer
        return indices[:, None], model.quantizer.embed(indices)
    indices = indices[:, :stages]
    missing = model.num_stages - stages
    padded = F.pad(indices, (0, 0, 0, missing), value=-1) if missing else indices
    return indices, model.quantizer.embed(padded)


def refine_codes(
    model,
    x: torch.Tensor,
    stages: int,
    steps: int,
    lr: float = REFINE_LR,
) -> torch.Tensor:
    """Codes of a sound chosen by analysis by synthesis (see the module docstring).

    Args:
        model: an audio VQVAE (run in eval mode: no quantizer dropout, no codebook updates).
        x: the sound (1, 1, T) at the model's rate, on the model's device.
        stages: how many residual stages to choose (1..S).
        steps: Adam steps per window (0: the encoder's own codes).
        lr: Adam's step size relative to the latents' standard deviation.

    Returns:
        (k, L) int64 codes on the CPU, L = ceil(T / hop).
    """
    training = model.training
    model.eval()
    try:
        return _search(model, x, stages, steps, lr)
    finally:
        model.train(training)


def _search(model, x: torch.Tensor, stages: int, steps: int, lr: float) -> torch.Tensor:
    with torch.no_grad():
        z = model.encode_latents(x)  # (1, D, L)
        indices, z_q = _codes(model, z, stages)
    if steps <= 0:
        return indices[0].cpu().long()
    frames, hop = z.shape[-1], model.hop_length
    target = model.signal.pad(x)  # (1, 1, L * hop)
    step = lr * float(z.std())
    windows = [(a, min(a + CHUNK_FRAMES, frames)) for a in range(0, frames, CHUNK_FRAMES)]
    bar = Progress(steps * len(windows), "refining speech codes", "step")
    for a, b in windows:
        lo, hi = max(a - MARGIN_FRAMES, 0), min(b + MARGIN_FRAMES, frames)
        wanted = target[..., lo * hop : hi * hop]
        latent = z[..., a:b].clone().requires_grad_(True)
        optimizer = torch.optim.Adam([latent], lr=step)
        best = float("inf")
        for i in range(steps + 1):
            with torch.no_grad():
                codes, quantized = _codes(model, latent.detach(), stages)
            with torch.enable_grad():
                straight = latent + (quantized - latent).detach()  # the forward pass's codes
                window = torch.cat([z_q[..., lo:a], straight, z_q[..., b:hi]], dim=-1)
                loss = waveform_loss(model.decode_latents(window), wanted)
                if float(loss.detach()) < best:
                    best = float(loss.detach())
                    indices[..., a:b], z_q[..., a:b] = codes, quantized
                if i == steps:
                    break
                (latent.grad,) = torch.autograd.grad(loss, latent)
            optimizer.step()
            bar.update()
    bar.close()
    return indices[0].cpu().long()

"""Sampling, greedy decoding and completion with a prior, one token at a time (KV cache).

Completion with an arbitrary mask: a raster-order model cannot condition on visible codes
that come *after* a missing one, so ``complete`` draws several candidates per output from
p(missing code | everything before it) (visible codes are forced) and resamples them in
proportion to the probability the model gave the forced visible codes: sampling-importance-
resampling from p(missing | visible). With ``--keep top`` every visible code comes first and
the weights are all equal, so this is exact ancestral sampling.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..progress import Progress
from .transformer import TransformerPrior


def _filter_logits(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = logits / temperature
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        k = min(top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


def _autoregress(
    prior: TransformerPrior,
    n: int,
    shape: tuple[int, int],
    labels,
    choose: Callable[[torch.Tensor], torch.Tensor],
    known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate (n, h, w) codes in raster order; returns them and log p of the forced codes."""
    h, w = prior.check_shape(shape)
    device = prior.head.weight.device
    out = torch.zeros(n, h * w, dtype=torch.long, device=device)
    known_logp = torch.zeros(n, dtype=torch.float64, device=device)
    if known is not None:
        known = known.to(device).reshape(-1, h * w).expand(n, -1)
        known_mask = known_mask.to(device).reshape(-1, h * w).expand(n, -1)
    cache = prior.new_cache()
    token = prior.start_tokens(n, labels)  # (n, 1)
    progress = Progress(h * w, f"sampling {n} map(s)", "code")
    for t in range(h * w):
        progress.update()
        logits = prior.forward_tokens(token, t, (h, w), cache)[:, -1]  # (n, K)
        code = choose(logits)
        if known is not None:
            forced = known_mask[:, t]
            if bool(forced.any()):
                logp = torch.log_softmax(logits.double(), dim=-1)
                picked = logp.gather(1, known[:, t : t + 1])[:, 0]
                known_logp += torch.where(forced, picked, torch.zeros_like(picked))
                code = torch.where(forced, known[:, t], code)
        out[:, t] = code
        token = code[:, None]
    progress.close()
    return out.view(n, h, w), known_logp


@torch.no_grad()
def sample(
    prior: TransformerPrior,
    n: int,
    shape: tuple[int, int] | None = None,
    labels: torch.Tensor | int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``n`` code maps from the prior.

    Args:
        prior: the model (put it in eval mode first).
        n: number of maps.
        shape: (h, w); default the largest map the prior models.
        labels: None (unconditional), an int, or (n,) class ids.
        temperature: divides the logits (< 1 sharper, > 1 flatter).
        top_k: sample only among the k most likely codes (1: greedy).
        generator: source of randomness (on the prior's device).

    Returns:
        indices (n, h, w) int64.
    """
    shape = shape or (prior.config.height, prior.config.width)

    def choose(logits: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(_filter_logits(logits, temperature, top_k), dim=-1)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    return _autoregress(prior, n, shape, labels, choose)[0]


@torch.no_grad()
def greedy(
    prior: TransformerPrior,
    n: int = 1,
    shape: tuple[int, int] | None = None,
    labels: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """The argmax code at every step, (n, h, w) int64."""
    shape = shape or (prior.config.height, prior.config.width)
    return _autoregress(prior, n, shape, labels, lambda logits: logits.argmax(-1))[0]


@torch.no_grad()
def complete(
    prior: TransformerPrior,
    indices: torch.Tensor,
    keep: torch.Tensor,
    n: int,
    labels: torch.Tensor | int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    candidates: int = 16,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample the codes where ``keep`` is False, given those where it is True.

    Args:
        indices: the code map (h, w) int64; entries outside ``keep`` are ignored.
        keep: (h, w) bool, True for visible codes.
        n: completions to return.
        candidates: proposals per completion for the importance resampling (1: none).

    Returns:
        (n, h, w) int64 maps that equal ``indices`` wherever ``keep`` is True.
    """
    if indices.shape != keep.shape or indices.dim() != 2:
        raise ValueError("indices and keep must both have shape (h, w)")
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    total = n * candidates

    def choose(logits: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(_filter_logits(logits, temperature, top_k), dim=-1)
        return torch.multinomial(probs, 1, generator=generator)[:, 0]

    maps, log_w = _autoregress(
        prior, total, tuple(indices.shape), labels, choose, indices, keep.bool()
    )
    if candidates == 1:
        return maps
    # resample one candidate per group in proportion to p(visible codes | earlier codes)
    log_w = log_w.view(n, candidates)
    weights = torch.softmax(log_w - log_w.max(dim=1, keepdim=True).values, dim=1).float()
    pick = torch.multinomial(weights, 1, generator=generator)[:, 0]
    return maps.view(n, candidates, *indices.shape)[torch.arange(n), pick]

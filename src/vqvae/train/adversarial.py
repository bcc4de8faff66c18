"""Adversarial training of an audio decoder: the discriminator, its optimizer and its step.

``Adversary.generator_losses`` gives the decoder's extra losses (the hinge loss of fooling
the discriminator, weighted by ``adversarial_weight``, and feature matching, by
``feature_weight``) with the discriminator frozen; ``Adversary.step`` then trains the
discriminator one step on the real batch and the detached reconstruction. Its weights and
optimizer go into ``train_state.pt`` (the shipped model does not need them), so a resumed
run continues both players exactly.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import dist
from ..config import LossConfig
from ..models.discriminator import (
    MultiScaleSTFTDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
)

STATE_KEYS = ("discriminator", "discriminator_optimizer")
BETAS = (0.5, 0.9)
"""Adam's betas for the discriminator, as GAN vocoders and codecs use."""


class Adversary:
    """The discriminator of a run with ``losses.adversarial_weight`` > 0.

    Args:
        losses: the weights (``LossConfig``).
        lr: the discriminator's learning rate (the run's peak lr; it follows the same schedule).
        device: where it trains.
        wrap: wraps the discriminator for data-parallel training (DDP under torchrun), or None.
    """

    def __init__(self, losses: LossConfig, lr: float, device: torch.device, wrap=None) -> None:
        self.losses = losses
        self.discriminator = MultiScaleSTFTDiscriminator().to(device)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=BETAS)
        self.judge = wrap(self.discriminator) if wrap is not None else self.discriminator

    def generator_losses(self, x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"adversarial", "feature"}: the reconstruction's losses against the discriminator
        (which gets no gradient from them, so it runs unwrapped: nothing to synchronise)."""
        self.discriminator.requires_grad_(False)
        try:
            with torch.no_grad():  # the real signal's features are targets: no graph
                real = self.discriminator(x.float())
            fake = self.discriminator(x_hat.float())
        finally:
            self.discriminator.requires_grad_(True)
        return {"adversarial": generator_loss(fake), "feature": feature_matching_loss(real, fake)}

    def weighted(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The decoder's extra loss: the weighted sum of ``generator_losses``."""
        w = self.losses
        return w.adversarial_weight * parts["adversarial"] + w.feature_weight * parts["feature"]

    def step(self, x_hat: torch.Tensor, x: torch.Tensor, lr: float) -> torch.Tensor:
        """One discriminator step on the real ``x`` and the (detached) ``x_hat``; returns its
        loss (detached, averaged over ranks)."""
        loss = discriminator_loss(*_judged(self.judge, x, x_hat.detach()))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        loss = loss.detach()
        if dist.world_size() > 1:
            loss = dist.all_reduce_sum_(loss.clone()) / dist.world_size()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """What ``train_state.pt`` keeps of it (``STATE_KEYS``)."""
        parts = (self.discriminator, self.optimizer)
        return {key: part.state_dict() for key, part in zip(STATE_KEYS, parts, strict=True)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, part in zip(STATE_KEYS, (self.discriminator, self.optimizer), strict=True):
            part.load_state_dict(state[key])


def _judged(module, x: torch.Tensor, x_hat: torch.Tensor):
    """(real, fake) judgements of one pass of ``module`` over the batch and its reconstruction."""
    n = x.shape[0]
    both = module(torch.cat([x.float(), x_hat.float()]))
    real = [(logits[:n], [f[:n] for f in features]) for logits, features in both]
    fake = [(logits[n:], [f[n:] for f in features]) for logits, features in both]
    return real, fake

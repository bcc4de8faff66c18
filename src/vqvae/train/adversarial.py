"""Adversarial training, one mechanism for every modality: the discriminator, its optimizer,
its step and the adaptive weight.

``Adversary`` builds the discriminator of the model's signal (``build_discriminator``: patches
for images, STFT scales for audio). ``Adversary.generator_losses`` gives the decoder's extra
losses (the hinge loss of fooling the discriminator, weighted by ``adversarial_weight`` and,
with the adaptive weight, by VQGAN's gradient-norm ratio; feature matching, weighted by
``feature_weight``) with the discriminator frozen; ``Adversary.step`` then trains the
discriminator one step on the real batch and the detached reconstruction. Neither happens
before step ``adversarial_start`` (``Adversary.active``). Its weights and optimizer go into
``train_state.pt`` (the shipped model does not need them), so a resumed run continues both
players exactly.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import dist
from ..config import LossConfig
from ..models import VQVAE
from ..models.discriminator import (
    build_discriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
)

STATE_KEYS = ("discriminator", "discriminator_optimizer")
BETAS = (0.5, 0.9)
"""Adam's betas for the discriminator, as GAN vocoders, codecs and VQGAN use."""
SEED_OFFSET = 0x5EED_D15C  # the discriminator's initialisation: seed + this, on its own
ADAPTIVE_EPS = 1e-4  # VQGAN's: keeps the ratio finite when the adversarial gradient vanishes
ADAPTIVE_MAX = 1e4  # and its clamp


def adaptive_weight(
    other: torch.Tensor, adversarial: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """VQGAN's adaptive weight (Esser et al. 2021, eq. 7), detached:

        lambda = ||grad_w other|| / (||grad_w adversarial|| + 1e-4), clamped to [0, 1e4]

    Args:
        other: the rest of the loss (reconstruction + ...), a scalar with its graph.
        adversarial: the generator's adversarial loss, a scalar with its graph.
        weight: the decoder's output layer's weight (``VQVAE.last_decoder_weight``).

    Under DDP the gradients are averaged over ranks first (as DDP averages the step's), so
    every rank gets the same lambda, that of the global batch.
    """
    grads = torch.stack([_gradient(loss, weight) for loss in (other, adversarial)])
    if dist.world_size() > 1:
        grads = dist.all_reduce_sum_(grads) / dist.world_size()
    other_norm, adversarial_norm = grads.flatten(1).norm(dim=1)
    return (other_norm / (adversarial_norm + ADAPTIVE_EPS)).clamp(0.0, ADAPTIVE_MAX).detach()


def _gradient(loss: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """d loss / d weight in fp32 (zeros where the loss does not reach it); the graph is kept."""
    if not loss.requires_grad:
        return torch.zeros_like(weight, dtype=torch.float32)
    (grad,) = torch.autograd.grad(loss, weight, retain_graph=True, allow_unused=True)
    return torch.zeros_like(weight, dtype=torch.float32) if grad is None else grad.float()


class Adversary:
    """The discriminator of a run with ``losses.adversarial`` (a weight > 0).

    Args:
        model: the model it judges (its signal picks the discriminator; the adaptive weight
            reads its decoder's output layer).
        losses: the weights and schedule (``LossConfig``).
        lr: the discriminator's learning rate (the run's peak lr; it follows the same schedule).
        device: where it trains.
        wrap: wraps the discriminator for data-parallel training (DDP under torchrun), or None.
        seed: the run's seed. The discriminator is initialised from a generator of its own
            (``seed + SEED_OFFSET``), leaving the global RNG (k-means init, code restarts)
            as it was: before ``adversarial_start`` the run is the plain run, bit for bit.
    """

    def __init__(
        self,
        model: VQVAE,
        losses: LossConfig,
        lr: float,
        device: torch.device,
        wrap=None,
        seed: int = 0,
    ) -> None:
        self.losses = losses
        with torch.random.fork_rng(devices=[]):  # built on the CPU, then moved
            torch.manual_seed(seed + SEED_OFFSET)
            self.discriminator = build_discriminator(model.config)
        self.discriminator.to(device)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=BETAS)
        self.judge = wrap(self.discriminator) if wrap is not None else self.discriminator
        self.adaptive = losses.adaptive(model.modality)
        self.output_weight = model.last_decoder_weight()

    def active(self, step: int) -> bool:
        """Whether the discriminator plays in the step after ``step`` steps: from step
        ``adversarial_start`` on (before it, no losses and no discriminator step)."""
        return step >= self.losses.adversarial_start

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

    def weighted(
        self, parts: dict[str, torch.Tensor], other: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The decoder's extra loss from ``generator_losses``: adversarial_weight [x the
        adaptive weight of the adversarial term against ``other``, the rest of the loss,
        added to ``parts`` as "adaptive_weight"] x adversarial + feature_weight x feature."""
        w = self.losses
        scale: float | torch.Tensor = w.adversarial_weight
        if self.adaptive:
            if other is None:
                raise ValueError("the adaptive weight needs the rest of the loss (other)")
            parts["adaptive_weight"] = adaptive_weight(
                other, parts["adversarial"], self.output_weight
            )
            scale = scale * parts["adaptive_weight"]
        return scale * parts["adversarial"] + w.feature_weight * parts["feature"]

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

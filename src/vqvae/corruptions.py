"""Seeded image corruptions for denoising: Gaussian noise, salt-and-pepper, occlusion boxes.

A corruption is named by a spec string ``KIND:LEVEL``::

    gaussian:SIGMA      x + SIGMA * N(0, 1) per pixel and channel, clipped to [0, 1]
    saltpepper:RATE     a RATE fraction of pixel locations set to 0 or 1 (half each, all channels)
    mask:FRACTION       random black boxes (sides 1/8 to 1/3 of the image) until about
                        FRACTION of each image's pixels are covered

Every random draw comes from an explicit ``torch.Generator`` (or a seed), so the same
generator state gives the same corruption; the draws happen on the CPU and are moved to the
images' device, so results do not depend on the device either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import VQVAEError

KINDS = ("gaussian", "saltpepper", "mask")


class CorruptionError(VQVAEError):
    """A corruption spec that cannot be parsed or is out of range."""


@dataclass(frozen=True)
class Corruption:
    """A parsed corruption spec.

    Attributes:
        kind: "gaussian", "saltpepper" or "mask".
        level: sigma (gaussian, >= 0), rate (saltpepper, in [0, 1]) or covered fraction
            (mask, in [0, 1]).
    """

    kind: str
    level: float

    @property
    def spec(self) -> str:
        """The canonical spec string, e.g. ``"gaussian:0.5"``."""
        return f"{self.kind}:{self.level:g}"

    def __str__(self) -> str:
        return self.spec


def parse_corruption(spec: str | Corruption) -> Corruption:
    """Parse ``"gaussian:0.5"``, ``"saltpepper:0.2"`` or ``"mask:0.25"``.

    Raises:
        CorruptionError: (a ``ValueError``) unknown kind, missing or non-numeric level, or a
            level out of range.
    """
    if isinstance(spec, Corruption):
        return spec
    if not isinstance(spec, str):
        raise CorruptionError(f"corruption spec must be a string like 'gaussian:0.5', got {spec!r}")
    kind, sep, value = spec.strip().partition(":")
    kind = kind.strip().lower().replace("-", "").replace("_", "")
    if kind in ("saltandpepper", "sp"):
        kind = "saltpepper"
    if kind not in KINDS:
        raise CorruptionError(
            f"unknown corruption {spec!r}; use gaussian:SIGMA, saltpepper:RATE or mask:FRACTION"
        )
    if not sep or not value.strip():
        raise CorruptionError(f"corruption {spec!r} needs a level, e.g. {kind}:0.2")
    try:
        level = float(value)
    except ValueError:
        raise CorruptionError(
            f"corruption {spec!r}: level {value.strip()!r} is not a number"
        ) from None
    if not math.isfinite(level) or level < 0:
        raise CorruptionError(f"corruption {spec!r}: level must be a finite number >= 0")
    if kind in ("saltpepper", "mask") and level > 1:
        raise CorruptionError(f"corruption {spec!r}: {kind} level is a fraction in [0, 1]")
    return Corruption(kind, level)


def corrupt(
    x: torch.Tensor,
    spec: str | Corruption,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Corrupt a batch of images.

    Args:
        x: float (B, C, H, W) in [0, 1] (any device); not modified.
        spec: a spec string or a parsed ``Corruption``.
        generator: a CPU generator all random draws come from; advanced by the call.
        seed: shorthand for ``generator=torch.Generator().manual_seed(seed)``. Without either,
            the global RNG is used.

    Returns:
        The corrupted images, float (B, C, H, W) in [0, 1] on ``x``'s device.
    """
    c = parse_corruption(spec)
    if generator is not None and seed is not None:
        raise ValueError("pass either generator or seed, not both")
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}")
    x = x.float()
    b, ch, h, w = x.shape
    if c.kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        return (x + c.level * noise).clamp(0, 1)
    if c.kind == "saltpepper":
        # One draw per pixel location: hit with probability `rate`, then salt or pepper.
        u = torch.rand((b, 1, h, w), generator=generator).to(x.device)
        salt = torch.rand((b, 1, h, w), generator=generator).to(x.device) < 0.5
        hit = u < c.level
        out = torch.where(hit & salt, torch.ones_like(x), x)
        return torch.where(hit & ~salt, torch.zeros_like(x), out).clamp(0, 1)
    mask = occlusion_mask((b, h, w), c.level, generator).to(x.device)  # (B, H, W) bool
    return x.masked_fill(mask[:, None], 0.0).clamp(0, 1)


def occlusion_mask(
    shape: tuple[int, int, int], fraction: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random axis-aligned boxes covering about ``fraction`` of each image.

    Each round adds one box to every image still short of its target: sides drawn uniformly
    between 1/8 and 1/3 of the image side, shrunk to at most the square root of the pixels
    still missing (so a mask overshoots its target by little), at a uniform position.

    Args:
        shape: (B, H, W).
        fraction: target covered fraction in [0, 1].
        generator: CPU generator for the box sizes and positions.

    Returns:
        bool (B, H, W) on the CPU, True where the image is occluded.
    """
    b, h, w = shape
    mask = torch.zeros((b, h, w), dtype=torch.bool)
    target = round(fraction * h * w)
    rows = torch.arange(h)[None, :, None]  # (1, H, 1)
    cols = torch.arange(w)[None, None, :]  # (1, 1, W)
    covered = torch.zeros(b, dtype=torch.long)
    for _ in range(4 * h * w + 10):  # a bound: rounds stop once every image reaches its target
        active = covered < target  # (B,)
        if not bool(active.any()):
            break
        missing = (target - covered).clamp_min(1).float().sqrt().ceil().long()
        bh = torch.minimum(_randint(max(1, h // 8), max(1, h // 3), b, generator), missing)
        bw = torch.minimum(_randint(max(1, w // 8), max(1, w // 3), b, generator), missing)
        bh, bw = bh.clamp(1, h), bw.clamp(1, w)
        top = (torch.rand(b, generator=generator) * (h - bh + 1)).long()
        left = (torch.rand(b, generator=generator) * (w - bw + 1)).long()
        box = (rows >= top[:, None, None]) & (rows < (top + bh)[:, None, None])
        box = box & (cols >= left[:, None, None]) & (cols < (left + bw)[:, None, None])
        mask |= box & active[:, None, None]
        covered = mask.flatten(1).sum(1)
    return mask


def _randint(lo: int, hi: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` uniform integers in [lo, hi]."""
    return torch.randint(lo, hi + 1, (n,), generator=generator)

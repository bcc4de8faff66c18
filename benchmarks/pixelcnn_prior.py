"""A Gated PixelCNN prior over VQ-VAE code maps, for comparison with our transformer prior.

Gated PixelCNN: van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders" (the prior of the VQ-VAE paper). Plain PyTorch, with the schedule and evaluation of ``vqvae.train.prior``; it duck-types the
``CodeDataset`` of ``vqvae.data.codes`` (``len``, ``batch(idx)``, ``shape``, ``labels``) and
follows the conventions of ``vqvae.priors.transformer`` (raster order, ``nll_bits`` per map)
and ``vqvae.train.prior`` (AdamW, warm-up, cosine decay over time progress)::

    indices (B, H, W) -> embedding (B, C, H, W) = v = h
      layer 1 (mask A) .. layer L (mask B), each:
        v_pre = conv_(k//2+1) x k(v)           rows <= i                      (B, 2C, H, W)
        h_pre = conv_1 x (k//2+1)(h) + 1x1(shift_down(v_pre))   columns <= j of row i (< j
                in layer 1), rows < i through the vertical stack: no blind spot
        v = tanh(v_f + b_f[y]) * sigmoid(v_g + b_g[y])          (eq. 4 + per-class bias)
        h = h + 1x1(tanh(h_f + b_f[y]) * sigmoid(h_g + b_g[y])) (no residual in layer 1)
      -> ReLU -> 1x1 -> ReLU -> 1x1
    logits (B, H, W, K): logits[:, i, j] = p(code (i, j) | label, codes before it in raster order)

Masks are built into the kernel shapes and paddings (no masked weights): the vertical stack
sees the rows up to and including its own, and reaches the horizontal stack only shifted down by
one row, so position (i, j) sees rows < i (all columns within reach) and columns < j of row i.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vqvae.train.prior import evaluate_prior as evaluate_pixelcnn  # any module with nll_bits
from vqvae.train.schedule import PRIOR_FLOOR, learning_rate


def _gate(x: torch.Tensor) -> torch.Tensor:
    f, g = x.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class GatedLayer(nn.Module):
    """One gated layer of the vertical and horizontal stacks (mask A if ``first``)."""

    def __init__(self, channels: int, kernel: int, num_labels: int, first: bool) -> None:
        super().__init__()
        self.first, self.half = first, kernel // 2
        c2 = 2 * channels
        self.v_conv = nn.Conv2d(channels, c2, (self.half + 1, kernel))
        self.v_to_h = nn.Conv2d(c2, c2, 1)
        # mask A: columns j-k//2 .. j-1 (kernel 1 x k//2); mask B: j-k//2 .. j (1 x k//2+1)
        self.h_conv = nn.Conv2d(channels, c2, (1, self.half + (0 if first else 1)))
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.v_label_emb = nn.Embedding(num_labels, c2)  # per-class gate biases (eq. 4)
        self.h_label_emb = nn.Embedding(num_labels, c2)

    def forward(
        self, v: torch.Tensor, h: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = v.shape[2], v.shape[3]
        k = self.half
        v_pre = self.v_conv(F.pad(v, (k, k, k, 0)))  # (B, 2C, H, W): rows i-k .. i
        # shift down one row: the horizontal stack at row i sees the vertical one of rows < i
        v_down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :height]
        if self.first:  # pad one extra column and drop the last: output j sees j-k .. j-1
            h_pre = self.h_conv(F.pad(h, (k, 0, 0, 0)))[:, :, :, :width]
        else:
            h_pre = self.h_conv(F.pad(h, (k, 0, 0, 0)))
        h_pre = h_pre + self.v_to_h(v_down)
        v = _gate(v_pre + self.v_label_emb(labels)[:, :, None, None])
        h_gated = self.h_out(_gate(h_pre + self.h_label_emb(labels)[:, :, None, None]))
        # layer 1's input holds the code at (i, j) itself, so it gets no residual
        return v, h_gated if self.first else h + h_gated


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN p(indices | label) over code maps in raster order.

    Args:
        num_codes: K, the number of code ids.
        num_classes: class labels for conditioning; one more "no label" class is always
            added, so 0 gives an unconditional model.
        channels: C, the width of both stacks.
        layers: gated layers (the first has mask A, the others mask B); >= 1.
        kernel: odd kernel size k >= 3 (vertical kernels k//2+1 x k, horizontal 1 x k//2+1).
    """

    def __init__(
        self,
        num_codes: int,
        num_classes: int = 0,
        channels: int = 96,
        layers: int = 8,
        kernel: int = 3,
    ) -> None:
        super().__init__()
        if num_codes < 2 or num_classes < 0 or channels < 1 or layers < 1:
            raise ValueError("need num_codes >= 2, num_classes >= 0, channels >= 1, layers >= 1")
        if kernel < 3 or kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and >= 3, got {kernel}")
        self.num_codes, self.num_classes = num_codes, num_classes
        self.code_emb = nn.Embedding(num_codes, channels)
        self.layers = nn.ModuleList(
            GatedLayer(channels, kernel, num_classes + 1, first=i == 0) for i in range(layers)
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv2d(channels, num_codes, 1),
        )

    def label_ids(self, batch: int, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        """Class ids (B,) int64, ``num_classes`` for "no label" (None or a negative entry)."""
        device = self.code_emb.weight.device
        none = torch.full((batch,), self.num_classes, dtype=torch.long, device=device)
        if labels is None:
            return none
        labels = torch.as_tensor(labels, dtype=torch.long, device=device).expand(batch)
        if self.num_classes == 0 and bool((labels >= 0).any()):
            raise ValueError("this prior was built without class labels")
        if bool((labels >= self.num_classes).any()):
            raise ValueError(f"labels must lie in [0, {self.num_classes}), got {labels.max()}")
        return torch.where(labels >= 0, labels, none)

    def forward(
        self, indices: torch.Tensor, labels: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """Teacher-forced logits of every code.

        Args:
            indices: code ids (B, H, W) int64 in [0, K).
            labels: None, an int, or (B,) class ids (negative: no label).

        Returns:
            logits (B, H, W, K) float32: logits[:, i, j] is p(code at (i, j) | label,
            earlier codes in raster order).
        """
        if indices.dim() != 3:
            raise ValueError(f"indices must have shape (B, H, W), got {tuple(indices.shape)}")
        y = self.label_ids(indices.shape[0], labels)
        x = self.code_emb(indices).permute(0, 3, 1, 2)  # (B, C, H, W)
        v, h = x, x
        for layer in self.layers:
            v, h = layer(v, h, y)
        return self.head(h).permute(0, 2, 3, 1).float()  # (B, H, W, K)

    def nll_bits(
        self, indices: torch.Tensor, labels: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """-log2 p(indices | label) per map, (B,) float32 bits (as ``TransformerPrior``)."""
        logits = self(indices, labels)
        nats = F.cross_entropy(logits.flatten(0, 2), indices.flatten(), reduction="none")
        return nats.view(indices.shape[0], -1).sum(1) / math.log(2)


def _optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for param in model.parameters():
        # conv kernels decay; embeddings (codes, label biases) and biases do not
        (decay if param.dim() == 4 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


def train_pixelcnn(
    train_codes: Any,
    test_codes: Any,
    minutes: float | None,
    *,
    num_classes: int | None = None,
    channels: int = 96,
    layers: int = 8,
    kernel: int = 3,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 0.01,
    warmup_steps: int = 100,
    label_dropout: float = 0.2,
    epochs: int = 1000,
    max_steps: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Train a Gated PixelCNN for ``minutes`` of training steps, like ``train_prior``.

    The schedule is the transformer prior's: linear warm-up, then cosine decay over progress =
    max(steps / planned steps, training seconds / budget); only training steps count toward
    the budget. Labels (when ``num_classes`` > 0) are replaced by "no label" with probability
    ``label_dropout``; the test NLL is unconditional, as ``vqvae eval-prior`` reports it.

    Args:
        train_codes, test_codes: ``CodeDataset``-like splits (``test_codes`` may be None).
        minutes: training time budget, or None for ``epochs`` / ``max_steps`` only.
        num_classes: label classes; None: 1 + the largest training label (0 without labels).

    Returns:
        {"bits_per_image", "bits_per_code": test (or last-epoch train) NLL, "steps",
        "seconds", "minutes": training time, "params"}.
    """
    if minutes is not None and minutes <= 0:
        raise ValueError(f"minutes must be > 0, got {minutes}")
    labels_all = train_codes.labels
    if num_classes is None:
        num_classes = int(labels_all.max()) + 1 if labels_all is not None else 0
    torch.manual_seed(seed)
    device = torch.device(device)
    model = GatedPixelCNN(
        train_codes.codebook_size, num_classes, channels=channels, layers=layers, kernel=kernel
    ).to(device)
    optimizer = _optimizer(model, lr, weight_decay)
    n = len(train_codes)
    batch_size = min(batch_size, n)
    per_epoch = max(1, n // batch_size)
    planned = per_epoch * epochs if not max_steps else min(per_epoch * epochs, max_steps)
    budget = minutes * 60 if minutes else math.inf
    use_labels = num_classes > 0 and labels_all is not None
    gen = torch.Generator().manual_seed(seed)
    h, w = train_codes.shape
    step, elapsed, stop, last_train = 0, 0.0, False, math.nan
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        started = time.perf_counter()
        running, done = 0.0, 0
        for b in range(per_epoch):
            progress = max(step / planned, elapsed / budget)
            if progress >= 1.0:
                stop = True
                break
            step_lr = learning_rate(lr, step, progress, warmup_steps, PRIOR_FLOOR)
            for group in optimizer.param_groups:
                group["lr"] = step_lr
            x, y = train_codes.batch(perm[b * batch_size : (b + 1) * batch_size])
            labels = None
            if use_labels:  # drop some labels so the "no label" class is learned too
                drop = torch.rand(len(y), generator=gen) < label_dropout
                labels = torch.where(drop, torch.full_like(y, -1), y).to(device)
            bits = model.nll_bits(x.to(device), labels).mean()
            loss = bits / (h * w)  # bits per code
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at step {step + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            done += 1
            running += float(bits.detach())
            now = time.perf_counter()
            elapsed += now - started
            started = now
        if done:
            last_train = running / done
        if log is not None:
            log(f"pixelcnn epoch {epoch + 1} step {step} ({elapsed / 60:.1f} min)")
        if stop:
            break
    if test_codes is not None:
        bits_per_image = evaluate_pixelcnn(model, test_codes)
    else:
        bits_per_image = last_train
    return {
        "bits_per_image": bits_per_image,
        "bits_per_code": bits_per_image / (h * w),
        "steps": step,
        "seconds": elapsed,
        "minutes": elapsed / 60,
        "params": sum(p.numel() for p in model.parameters()),
    }

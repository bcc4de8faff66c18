"""Training loop of the prior over cached code maps (nanoGPT style, plain PyTorch).

AdamW (no weight decay on embeddings, biases and LayerNorms), linear warm-up then cosine
decay over the run's progress, where progress is the larger of steps done / steps planned and
time spent / ``max_minutes``, so a time-limited run still ends at a small learning rate.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import checkpoint
from ..data.codes import CodeDataset
from ..errors import VQVAEError
from ..priors import PriorConfig, TransformerPrior, save_prior
from ..progress import Progress, track
from .schedule import PRIOR_FLOOR, learning_rate, run_progress


@dataclass(frozen=True)
class PriorTrainConfig:
    """Schedule of a prior training run (saved in ``prior/config.json`` under "train")."""

    epochs: int = 20
    max_minutes: float | None = None
    max_steps: int | None = None
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"--max-minutes must be > 0, got {self.max_minutes}")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError("--batch-size must be >= 1 and --lr > 0")


def _optimizer(prior: TransformerPrior, config: PriorTrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, param in prior.named_parameters():
        # only matrices of Linear layers decay; embeddings (incl. labels), biases, norms do not
        is_matrix = param.dim() == 2 and not name.endswith("emb.weight")
        (decay if is_matrix else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))


@torch.no_grad()
def evaluate_prior(
    prior: torch.nn.Module, codes: CodeDataset, batch_size: int = 500, use_labels: bool = False
) -> float:
    """Mean bits per code map of ``codes`` (unconditional unless ``use_labels``).

    ``prior`` is any module with ``nll_bits(indices, labels) -> (B,)`` bits per map.
    """
    was_training = prior.training
    prior.eval()
    total = 0.0
    device = next(prior.parameters()).device
    starts = range(0, len(codes), batch_size)
    for start in track(starts, desc="evaluating the prior", unit="batch"):
        idx = torch.arange(start, min(start + batch_size, len(codes)))
        x, y = codes.batch(idx)
        labels = y.to(device) if use_labels and y is not None else None
        total += float(prior.nll_bits(x.to(device), labels).double().sum())
    prior.train(was_training)
    return total / len(codes)


def _step(prior: TransformerPrior, optimizer, batch, gen, device, step: int) -> float:
    """One optimizer step on a batch of (codes, labels); returns its mean bits per map."""
    x, y = batch
    labels = None
    config = prior.config
    if config.num_classes > 0 and y is not None:  # drop some labels: "no label" is learned too
        drop = torch.rand(len(y), generator=gen) < config.label_dropout
        labels = torch.where(drop, torch.full_like(y, -1), y).to(device)
    bits = prior.nll_bits(x.to(device), labels).mean()
    loss = bits / (x.shape[1] * x.shape[2])  # bits per code
    if not torch.isfinite(loss):
        raise VQVAEError(f"prior loss became {float(loss)} at step {step + 1}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
    optimizer.step()
    return float(bits.detach())


def train_prior(
    prior_config: PriorConfig,
    train_config: PriorTrainConfig,
    train_codes: CodeDataset,
    test_codes: CodeDataset | None,
    run_dir: str | Path,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train a prior on ``train_codes`` and save it into ``run_dir/prior``.

    Returns:
        {"bits_per_image": test (or train) bits per map, "steps", "minutes"}.
    """
    if train_codes.codebook_size != prior_config.codebook_size:
        raise VQVAEError(
            f"codes have codebook_size {train_codes.codebook_size}, "
            f"the prior {prior_config.codebook_size}"
        )
    torch.manual_seed(train_config.seed)
    device = torch.device(device)
    prior = TransformerPrior(prior_config).to(device)
    optimizer = _optimizer(prior, train_config)
    n = len(train_codes)
    batch_size = min(train_config.batch_size, n)
    per_epoch = max(1, n // batch_size)
    planned = per_epoch * train_config.epochs
    if train_config.max_steps:
        planned = min(planned, train_config.max_steps)
    budget = train_config.max_minutes * 60 if train_config.max_minutes else math.inf
    gen = torch.Generator().manual_seed(train_config.seed)
    step, elapsed, stop = 0, 0.0, False
    history = []
    bar = Progress(100, "training the prior", "%")  # of the steps or the time budget
    for epoch in range(train_config.epochs):
        if run_progress(step, planned, elapsed, budget) >= 1.0:  # the last epoch used it all up
            break
        prior.train()
        perm = torch.randperm(n, generator=gen)
        started = time.perf_counter()
        running = 0.0
        for b in range(per_epoch):
            progress = run_progress(step, planned, elapsed, budget)
            if progress >= 1.0:
                stop = True
                break
            bar.goto(int(100 * progress))
            lr = learning_rate(
                train_config.lr, step, progress, train_config.warmup_steps, PRIOR_FLOOR
            )
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = train_codes.batch(perm[b * batch_size : (b + 1) * batch_size])
            bits = _step(prior, optimizer, batch, gen, device, step)
            step += 1
            running += bits
            bar.set_postfix(bits_per_image=f"{bits:.1f}")
            now = time.perf_counter()
            elapsed += now - started
            started = now
        done = b if stop else per_epoch
        record = {
            "epoch": epoch + 1,
            "step": step,
            "minutes": round(elapsed / 60, 3),
            "train_bits_per_image": running / max(done, 1),
        }
        if test_codes is not None:
            record["test_bits_per_image"] = evaluate_prior(prior, test_codes)
        history.append(record)
        log(
            f"prior epoch {epoch + 1} step {step} ({elapsed / 60:.1f} min): "
            + ", ".join(f"{k} {v:.2f}" for k, v in record.items() if k.endswith("image"))
        )
        folder = save_prior(
            prior, run_dir, extra={"train": vars(train_config).copy(), "step": step}
        )
        # The log goes with the prior it describes: an old prior keeps its own until then.
        lines = "".join(json.dumps(r) + "\n" for r in history)
        checkpoint.atomic_write_bytes(folder / "metrics.jsonl", lines.encode())
        if stop:
            break
    bar.close()
    last = history[-1]
    return {
        "bits_per_image": last.get("test_bits_per_image", last["train_bits_per_image"]),
        "steps": step,
        "minutes": elapsed / 60,
    }

"""Training the context model (``vqvae.priors.context``) over a run's code maps.

Code maps come whole (a photo's map, any size) or as a fixed-size array (a named dataset's
cached codes); each step takes random crops of ``crop`` x ``crop`` codes from a batch of maps
and trains one group (the groups in turn), AdamW with warm-up and cosine decay over the steps or
the time budget, whichever runs out first. Saved into ``RUN_DIR/context`` at the end, with the
held-out bits per code beside the static (unigram) model's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.folder import load_image
from ..errors import VQVAEError
from ..priors.context import ContextConfig, ContextModel, group_map, save_context
from ..progress import Progress, track
from .schedule import PRIOR_FLOOR, learning_rate, run_progress


@dataclass(frozen=True)
class ContextTrainConfig:
    """Schedule of a context-model training run (saved in ``context/config.json``)."""

    max_steps: int = 20000
    max_minutes: float | None = None
    batch_size: int = 16
    crop: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.batch_size < 1 or self.crop < 2 or self.lr <= 0:
            raise ValueError("--max-steps, --batch-size must be >= 1, --crop >= 2, --lr > 0")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"--max-minutes must be > 0, got {self.max_minutes}")


def _crops(
    maps: Sequence[np.ndarray], rows: torch.Tensor, size: tuple[int, int], gen: torch.Generator
) -> torch.Tensor:
    """(B, h, w) int64 random crops of ``size`` from the maps ``rows``."""
    h, w = size
    out = []
    for i in rows.tolist():
        m = maps[i]
        top = int(torch.randint(m.shape[0] - h + 1, (1,), generator=gen))
        left = int(torch.randint(m.shape[1] - w + 1, (1,), generator=gen))
        out.append(torch.from_numpy(m[top : top + h, left : left + w].astype(np.int64)))
    return torch.stack(out)


@torch.no_grad()
def image_code_maps(model, paths: Sequence[Path], mirror: bool = True) -> list[np.ndarray]:
    """Code maps (uint16) of whole images, each also mirrored left-right when ``mirror``
    (another map, not a flipped one: codes are not mirror-symmetric), with the model's
    assignment rule."""
    model.eval()
    device = next(model.parameters()).device
    maps = []
    for path in track(paths, desc="encoding images for the context model", unit="image"):
        x = load_image(path, model.config.in_channels).float().div(255)[None].to(device)
        for image in (x, x.flip(-1)) if mirror else (x,):
            maps.append(model.encode(image)[0].cpu().numpy().astype(np.uint16))
    return maps


@torch.no_grad()
def bits_per_code(model: ContextModel, maps: Sequence[np.ndarray]) -> float:
    """Mean bits per code of whole ``maps`` under ``model``."""
    was = model.training
    model.eval()
    bits = sum(float(model.nll_bits(torch.from_numpy(m.astype(np.int64))[None])) for m in maps)
    model.train(was)
    return bits / sum(m.size for m in maps)


def unigram_bits_per_code(train: Sequence[np.ndarray], test: Sequence[np.ndarray], k: int) -> float:
    """Bits per code of ``test`` under the (add-half smoothed) code counts of ``train``."""
    counts = np.full(k, 0.5)
    for m in train:
        counts += np.bincount(m.reshape(-1).astype(np.int64), minlength=k)[:k]
    logp = np.log2(counts / counts.sum())
    total = sum(-logp[m.reshape(-1).astype(np.int64)].sum() for m in test)
    return float(total / sum(m.size for m in test))


def train_context(
    model_config: ContextConfig,
    config: ContextTrainConfig,
    train_maps: Sequence[np.ndarray],
    test_maps: Sequence[np.ndarray],
    run_dir: str | Path,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
    init: ContextModel | None = None,
    init_steps: int = 0,
) -> dict[str, float]:
    """Train a context model on ``train_maps`` (uint16 (h, w) arrays) and save it into
    ``run_dir/context``; ``init``, when given, is the model to continue from (of
    ``model_config``'s sizes; ``init_steps``: the steps it was trained for, recorded in the
    total).

    Returns:
        {"bits_per_code": held-out bits per code, "static_bits_per_code": the unigram's on the
        same maps, "steps", "minutes"}.
    """
    if not train_maps:
        raise VQVAEError("no code maps to train the context model on")
    size = (
        min(config.crop, min(m.shape[0] for m in train_maps)),
        min(config.crop, min(m.shape[1] for m in train_maps)),
    )
    if min(size) < 2**model_config.levels:
        raise VQVAEError(
            f"code maps of {size[0]}x{size[1]} are too small for a context model of "
            f"{model_config.levels} level(s) (at least {2**model_config.levels} codes a side)"
        )
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    device = torch.device(device)
    if init is not None and init.config != model_config:
        raise VQVAEError(f"the context model to continue has other sizes: {init.config}")
    model = (init if init is not None else ContextModel(model_config)).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, betas=(0.9, 0.99), weight_decay=config.weight_decay
    )
    budget = config.max_minutes * 60 if config.max_minutes else math.inf
    started, step, running = time.perf_counter(), 0, []
    groups = group_map(*size, model_config.levels).view(-1).to(device)
    members = [groups == g for g in range(model_config.num_groups)]
    model.train()
    with Progress(100, "training the context model", "%") as bar:
        while True:
            progress = run_progress(step, config.max_steps, time.perf_counter() - started, budget)
            if progress >= 1.0:
                break
            bar.goto(int(100 * progress))
            lr = learning_rate(config.lr, step, progress, config.warmup_steps, PRIOR_FLOOR)
            for group in optimizer.param_groups:
                group["lr"] = lr
            rows = torch.randint(len(train_maps), (config.batch_size,), generator=gen)
            codes = _crops(train_maps, rows, size, gen).to(device)
            g = step % model_config.num_groups
            logits = model(codes, g)  # (B, n, K)
            target = codes.reshape(len(codes), -1)[:, members[g]]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
            if not torch.isfinite(loss):
                raise VQVAEError(f"context model loss became {float(loss)} at step {step + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            running.append(float(loss.detach()) / math.log(2))
            if step % 50 == 0:
                bar.set_postfix(bits_per_code=f"{np.mean(running[-200:]):.3f}")
    minutes = (time.perf_counter() - started) / 60
    held_out = test_maps or train_maps[:8]
    model = model.cpu()
    bits = bits_per_code(model, held_out)
    static = unigram_bits_per_code(train_maps, held_out, model_config.codebook_size)
    log(
        f"context model: {step} steps in {minutes:.1f} min, {bits:.3f} bits per held-out code "
        f"(the unigram: {static:.3f})"
    )
    save_context(
        model,
        run_dir,
        extra={
            "train": asdict(config),
            "step": step,
            "total_steps": init_steps + step,
            "bits_per_code": bits,
            "static_bits_per_code": static,
        },
    )
    return {
        "bits_per_code": bits,
        "static_bits_per_code": static,
        "steps": step,
        "total_steps": init_steps + step,
        "minutes": minutes,
    }

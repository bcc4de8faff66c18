"""One explicit training loop for the VQ-VAE: shuffle, step, log, evaluate, checkpoint, resume.

Everything random is derived from ``TrainConfig.seed``: the model's initialisation, each
epoch's permutation (a generator seeded by (seed, epoch)), each batch's crops and the global
RNG that code restarts draw from (saved in the checkpoint). So a resumed run replays exactly
the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .. import checkpoint, metrics
from ..config import TrainConfig, VQVAEConfig
from ..corruptions import corrupt
from ..data import ImageDataset, load_dataset
from ..device import autocast_for, resolve_device
from ..errors import VQVAEError
from ..evaluation import evaluate
from ..models import VQVAE

METRICS_FILE = "metrics.jsonl"


class TrainingError(VQVAEError):
    """Training cannot go on (diverged, inconsistent checkpoint, ...)."""


def load_splits(config: TrainConfig) -> tuple[ImageDataset, ImageDataset]:
    """The training and evaluation datasets named by ``config``."""
    train = load_dataset(
        config.dataset, "train", config.data_dir, config.download, random_crop=config.random_crop
    )
    test = load_dataset(
        config.dataset, "test", config.data_dir, config.download, center_crop=config.random_crop
    )
    if config.train_subset:
        train = train.subset(config.train_subset)
    if config.eval_subset:
        test = test.subset(config.eval_subset)
    return train, test


def model_config_for(dataset: ImageDataset, base: VQVAEConfig) -> VQVAEConfig:
    """Adapt ``base`` to the dataset's channels and image size."""
    return base.replace(in_channels=dataset.channels, image_size=tuple(dataset.image_size))


def _batch_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_003 + batch)


def _corrupt_input(x: torch.Tensor, config: TrainConfig, epoch: int, batch: int) -> torch.Tensor:
    """The denoiser's input: ``x`` corrupted by ``config.train_noise`` with a (seed, epoch,
    batch)-derived generator (so resumed runs replay the same noise), else ``x``."""
    if config.train_noise is None:
        return x
    return corrupt(x, config.train_noise, _batch_generator(config.seed + 7_777_777, epoch, batch))


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order in which epoch ``epoch`` visits the ``n`` training images."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def train(
    model_config: VQVAEConfig,
    train_config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train a VQ-VAE into ``run_dir`` and return the last evaluation's metrics.

    Args:
        model_config: architecture; ``in_channels`` / ``image_size`` are taken from the data.
        train_config: data, schedule and seed.
        run_dir: where config.json, model.safetensors, train_state.pt and metrics.jsonl go.
        resume: continue from ``run_dir/train_state.pt`` (model config is taken from the run).
        progress: show a progress bar.
        log: where one-line messages go.
    """
    run_dir = Path(run_dir)
    device = resolve_device(train_config.device)
    state: dict[str, Any] | None = None
    if resume:
        saved = checkpoint.read_run_config(run_dir)
        state = checkpoint.load_train_state(run_dir)
        model_config = VQVAEConfig.from_dict(saved["model"])
    torch.manual_seed(train_config.seed)
    train_set, test_set = load_splits(train_config)
    if not resume:
        model_config = model_config_for(train_set, model_config)
    elif train_set.channels != model_config.in_channels:
        raise TrainingError(
            f"{run_dir} was trained on {model_config.in_channels}-channel images, "
            f"but {train_config.dataset} has {train_set.channels}"
        )
    model = VQVAE(model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    batch_size = min(train_config.batch_size, len(train_set))
    batches_per_epoch = len(train_set) // batch_size  # drop the ragged last batch

    step, epoch, first_batch, elapsed = 0, 0, 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        step, epoch, first_batch = int(state["step"]), int(state["epoch"]), int(state["batch"])
        elapsed = float(state["elapsed"])
        log(f"resuming {run_dir} at epoch {epoch + 1}, step {step}")
    run_dir.mkdir(parents=True, exist_ok=True)
    extra = {"train": train_config.to_dict()}

    def save(next_epoch: int, next_batch: int) -> None:
        model.save_pretrained(run_dir, extra={**extra, "step": step})
        checkpoint.save_train_state(
            run_dir,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(),
                "step": step,
                "epoch": next_epoch,
                "batch": next_batch,
                "elapsed": elapsed,
            },
        )

    deadline = train_config.max_minutes * 60 if train_config.max_minutes else math.inf
    max_steps = train_config.max_steps or math.inf
    last_eval: dict[str, float] = {}
    stop = False
    writer = _tensorboard_writer(run_dir)
    while epoch < train_config.epochs and not stop:
        model.train()
        perm = epoch_permutation(len(train_set), train_config.seed, epoch)
        bar = tqdm(
            range(first_batch, batches_per_epoch),
            desc=f"epoch {epoch + 1}/{train_config.epochs}",
            disable=not progress,
            leave=False,
        )
        started = time.perf_counter()
        next_batch = first_batch
        for b in bar:
            idx = perm[b * batch_size : (b + 1) * batch_size]
            x = train_set.batch(idx, _batch_generator(train_config.seed, epoch, b)).to(device)
            x_in = _corrupt_input(x, train_config, epoch, b)  # x itself unless --train-noise
            with autocast_for(device):
                out = model(x_in, target=x)
            if not torch.isfinite(out.loss):
                raise TrainingError(
                    f"loss became {float(out.loss)} at step {step + 1}; "
                    f"the last good checkpoint in {run_dir} is kept"
                )
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            step += 1
            next_batch = b + 1
            now = time.perf_counter()
            elapsed += now - started
            started = now
            if progress and step % 10 == 0:
                bar.set_postfix(
                    loss=f"{out.loss.item():.4f}",
                    psnr=f"{float(metrics.psnr(x, out.x_hat.detach()).mean()):.2f}",
                    ppl=f"{float(out.perplexity):.1f}",
                    usage=f"{out.indices.unique().numel() / model.quantizer.codebook_size:.2f}",
                )
            if writer is not None:
                writer.add_scalar("train/loss", out.loss.item(), step)
                writer.add_scalar("train/perplexity", float(out.perplexity), step)
            if elapsed >= deadline or step >= max_steps:
                stop = True
                break
            if train_config.checkpoint_every and step % train_config.checkpoint_every == 0:
                save(epoch, next_batch)
        bar.close()
        if next_batch >= batches_per_epoch:
            epoch, next_batch = epoch + 1, 0
        first_batch = next_batch
        last_eval = evaluate(model, test_set, device=device)
        record = {"epoch": epoch, "step": step, "elapsed": round(elapsed, 2), **last_eval}
        _append_jsonl(run_dir / METRICS_FILE, record)
        if writer is not None:
            for key, value in last_eval.items():
                writer.add_scalar(f"test/{key}", value, step)
        log(
            f"epoch {epoch} step {step}: test psnr {last_eval['psnr']:.2f} dB, "
            f"nmse {last_eval['nmse']:.4f}, usage {last_eval['usage']:.2f}, "
            f"perplexity {last_eval['perplexity']:.1f}"
        )
        save(epoch, first_batch)
    if writer is not None:
        writer.close()
    if not last_eval:  # resumed a run that had already finished
        last_eval = evaluate(model, test_set, device=device)
    return last_eval


def _tensorboard_writer(run_dir: Path):
    """A SummaryWriter into run_dir/tb when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tb"))

"""One explicit training loop for the VQ-VAE: shuffle, step, log, evaluate, checkpoint, resume.

Everything random is derived from ``TrainConfig.seed``: the model's initialisation, each
epoch's permutation (a generator seeded by (seed, epoch)), each batch's crops (a generator
seeded by (seed, epoch, batch)) and the global RNG that k-means init and code restarts draw
from (saved in the checkpoint). So a resumed run replays exactly the batches and random draws
an uninterrupted run would have: on CPU its final weights are bit-identical.

Under ``torchrun`` (see ``distributed.py``) the model is wrapped in DDP and every rank trains
on its slice of the same global batch; all ranks hold bit-identical weights, codebooks and
global RNG states, so rank 0 alone evaluates, logs and writes the run dir.
"""

from __future__ import annotations

import inspect
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .. import checkpoint, dist, metrics
from ..config import TrainConfig, VQVAEConfig
from ..corruptions import corrupt
from ..data import ImageDataset, load_dataset
from ..device import autocast_for
from ..errors import CheckpointError, VQVAEError
from ..evaluation import evaluate
from ..models import VQVAE
from ..priors import load_prior
from . import decoder, distributed, warm_start
from .context_rate import ContextRate
from .sampler import DistributedBatchSampler, epoch_permutation

METRICS_FILE = "metrics.jsonl"
# What train_state.pt must hold to resume.
_STATE_KEYS = ("model", "optimizer", "rng", "step", "epoch", "batch", "elapsed")

__all__ = ["TrainingError", "epoch_permutation", "load_splits", "model_config_for", "train"]


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


def scheduled_lr(
    config: TrainConfig, step: int, total_steps: float, elapsed: float, deadline: float
) -> float:
    """The learning rate for optimizer step ``step`` (0-based) under ``config.lr_schedule``.

    Cosine: lr * (1 + cos(pi * progress)) / 2, where progress is the larger of the fraction of
    steps done and the fraction of the time budget used (so a --max-minutes run still ends at
    a learning rate near zero).
    """
    if config.lr_schedule == "constant":
        return config.lr
    progress = step / total_steps if total_steps < math.inf else 0.0
    if deadline < math.inf:
        progress = max(progress, elapsed / deadline)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def _all_finite(module: torch.nn.Module) -> bool:
    tensors = [*module.parameters(), *module.buffers()]
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def train(
    model_config: VQVAEConfig,
    train_config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train a VQ-VAE into ``run_dir`` and return the last evaluation's metrics.

    Launched by ``torchrun`` (or inside a process group the caller set up), every process
    calls this; they train one DDP model on ``train_config.batch_size`` images per step in
    total, and rank 0 writes the run dir.

    Args:
        model_config: architecture; ``in_channels`` / ``image_size`` are taken from the data.
        train_config: data, schedule and seed.
        run_dir: where config.json, model.safetensors, train_state.pt and metrics.jsonl go.
        resume: continue from ``run_dir/train_state.pt`` (model config is taken from the run).
        progress: show a progress bar (rank 0 only).
        log: where one-line messages go (rank 0 only).

    Returns:
        The last evaluation's metrics (see ``vqvae.evaluation.evaluate``); ``{}`` on ranks
        other than 0.

    Raises:
        TrainingError: the loss or the weights became NaN/Inf (the last checkpoint is kept).
        CheckpointError: ``resume`` and the run dir's checkpoint is missing or damaged.
    """
    with distributed.process_group(train_config.device) as device, warnings.catch_warnings():
        # DDP notes once that a 1-channel conv's gradient has other (equally valid) strides
        # than its bucket; harmless, and not the user's to fix.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        result = _train(model_config, train_config, Path(run_dir), resume, progress, log, device)
        dist.barrier()  # the others wait for rank 0's last evaluation and checkpoint
        return result


def _train(
    model_config: VQVAEConfig,
    train_config: TrainConfig,
    run_dir: Path,
    resume: bool,
    progress: bool,
    log: Callable[[str], None],
    device: torch.device,
) -> dict[str, float]:
    main = dist.is_main_process()
    if not main:
        progress, log = False, _quiet
    state: dict[str, Any] | None = None
    if resume:
        saved = checkpoint.read_run_config(run_dir)
        state = checkpoint.load_train_state(run_dir, required=_STATE_KEYS)
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
    sampler = DistributedBatchSampler(
        len(train_set), train_config.batch_size, train_config.seed, dist.rank(), dist.world_size()
    )
    # channels_last speeds up convolutions on CUDA (tensor cores); the quantizer reshapes
    # z_e itself, so it does not care about the memory format.
    channels_last = device.type == "cuda" and model_config.arch == "conv"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = VQVAE(model_config)
    if train_config.codes_from is not None:  # decoder only: the source's codes, frozen
        if state is None:
            decoder.load_codes_from(model, train_config.codes_from)
        decoder.freeze_codes(model)
    elif train_config.init_from is not None and state is None:
        copied = warm_start.load_matching_parts(model, train_config.init_from)
        log(f"starting from {train_config.init_from}: {', '.join(copied)} copied")
    model = model.to(device, memory_format=memory_format)
    code_cost = None
    if train_config.rate_prior is not None:
        code_cost = _context_rate(train_config, model, device)
        log(
            f"assigning codes under the prior of {train_config.rate_prior} "
            f"(lambda {train_config.rate_prior_weight})"
        )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=train_config.lr)

    step, epoch, first_batch, elapsed = 0, 0, 0, 0.0
    if state is not None:
        _restore(state, model, optimizer, device, sampler, run_dir)
        step, epoch, first_batch = int(state["step"]), int(state["epoch"]), int(state["batch"])
        elapsed = float(state["elapsed"])
        log(f"resuming {run_dir} at epoch {epoch + 1}, step {step}")
    extra = {"train": train_config.to_dict()}
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.remove_stale_temp_files(run_dir)
        if state is None:  # a run dir from the start: --resume needs config.json
            model.save_pretrained(run_dir, extra={**extra, "step": step})
    if dist.world_size() > 1:
        log(
            f"training on {dist.world_size()} processes ({device.type}), "
            f"{sampler.local_batch_size} of {sampler.batch_size} images each per step"
        )
    ddp = _wrap_ddp(model, device) if dist.world_size() > 1 else model

    def save(next_epoch: int, next_batch: int) -> None:
        # Weights are identical on every rank, so all agree on this check without talking.
        if not _all_finite(model):
            raise TrainingError(
                f"the weights became NaN/Inf by step {step}; not saving, "
                f"the last good checkpoint in {run_dir} is kept"
            )
        if not main:
            return
        # train_state.pt first: it alone is what --resume reads.
        checkpoint.save_train_state(
            run_dir,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(),
                **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
                "step": step,
                "epoch": next_epoch,
                "batch": next_batch,
                "batch_size": sampler.batch_size,
                "world_size": dist.world_size(),
                "elapsed": elapsed,
            },
        )
        model.save_pretrained(run_dir, extra={**extra, "step": step})

    deadline = train_config.max_minutes * 60 if train_config.max_minutes else math.inf
    max_steps = train_config.max_steps or math.inf
    total_steps = min(max_steps, train_config.epochs * sampler.batches_per_epoch)
    last_eval: dict[str, float] = {}
    stop = False
    writer = _tensorboard_writer(run_dir) if main else None
    while epoch < train_config.epochs and not stop:
        model.train()
        if train_config.codes_from is not None:
            decoder.hold_codes(model)
        bar = tqdm(
            range(first_batch, sampler.batches_per_epoch),
            desc=f"epoch {epoch + 1}/{train_config.epochs}",
            disable=not progress,
            leave=False,
        )
        started = time.perf_counter()
        next_batch = first_batch
        for b in bar:
            idx = sampler.indices(epoch, b)
            # The whole global batch is built (crops and noise drawn for every image) before this
            # rank takes its slice: the images do not depend on the number of ranks.
            x = train_set.batch(idx, _batch_generator(train_config.seed, epoch, b))
            x_in = _corrupt_input(x, train_config, epoch, b)  # x itself unless --train-noise
            x, x_in = (
                sampler.shard(t).to(device, non_blocking=True, memory_format=memory_format)
                for t in (x, x_in)
            )
            with autocast_for(device):
                out = ddp(x_in, target=x, code_cost=code_cost)
            loss = out.loss.detach().float()
            if dist.world_size() > 1:  # every rank must see the same verdict
                loss = dist.all_reduce_sum_(loss.clone()) / dist.world_size()
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss became {float(loss)} at step {step + 1}; stopped, "
                    f"the last good checkpoint in {run_dir} is kept"
                )
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if train_config.lr_schedule != "constant":
                for group in optimizer.param_groups:
                    group["lr"] = scheduled_lr(train_config, step, total_steps, elapsed, deadline)
            optimizer.step()
            step += 1
            next_batch = b + 1
            now = time.perf_counter()
            elapsed += now - started
            started = now
            if train_config.lr_schedule != "constant" and deadline < math.inf:
                # a time-based schedule must follow one clock on every rank: rank 0's
                clock = torch.tensor([elapsed], dtype=torch.float64, device=device)
                elapsed = float(dist.broadcast_(clock)[0])
            if progress and step % 10 == 0:
                bar.set_postfix(
                    loss=f"{float(loss):.4f}",
                    psnr=f"{float(metrics.psnr(x, out.x_hat.detach().float()).mean()):.2f}",
                    ppl=f"{float(out.perplexity):.1f}",
                    usage=f"{out.indices.unique().numel() / model.quantizer.codebook_size:.2f}",
                )
            if writer is not None:
                writer.add_scalar("train/loss", float(loss), step)
                writer.add_scalar("train/perplexity", float(out.perplexity), step)
            # Ranks measure time separately; stop together when any is out of time.
            out_of_time = deadline < math.inf and dist.any_rank(elapsed >= deadline, device)
            if out_of_time or step >= max_steps:
                stop = True
                break
            if train_config.checkpoint_every and step % train_config.checkpoint_every == 0:
                save(epoch, next_batch)
        bar.close()
        if next_batch >= sampler.batches_per_epoch:
            epoch, next_batch = epoch + 1, 0
        first_batch = next_batch
        if main:  # the others wait in their next collective
            last_eval = evaluate(model, test_set, device=device, code_cost=code_cost)
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
    if main and not last_eval:  # resumed a run that had already finished
        last_eval = evaluate(model, test_set, device=device, code_cost=code_cost)
    return last_eval


def _context_rate(config: TrainConfig, model: VQVAE, device: torch.device) -> ContextRate:
    """The code-cost function of ``--rate-prior``, checked against the model's code map."""
    prior = load_prior(config.rate_prior, map_location=device)
    try:
        rate = ContextRate(prior, model.quantizer, config.rate_prior_weight)
        side = config.random_crop or None
        h, w = (side, side) if side else model.config.image_size
        f = model.downsample_factor
        prior.check_shape((-(-h // f), -(-w // f)))
    except ValueError as exc:
        raise TrainingError(f"--rate-prior {config.rate_prior}: {exc}") from None
    return rate


def _wrap_ddp(model: VQVAE, device: torch.device) -> DistributedDataParallel:
    """DDP that averages gradients but leaves buffers alone after the initial sync.

    Every rank keeps the EMA statistics identical by all-reducing them inside the quantizer,
    so rebroadcasting rank 0's buffers before each forward would only hide a divergence.
    """
    ids = [device.index] if device.type == "cuda" else None
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


def _restore(
    state: dict[str, Any],
    model: VQVAE,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    sampler: DistributedBatchSampler,
    run_dir: Path,
) -> None:
    """Load model, optimizer and RNG states from ``train_state.pt``."""
    path = run_dir / checkpoint.TRAIN_STATE_FILE
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: does not match the run's model ({first})") from None
    torch.set_rng_state(state["rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    saved_batch = int(state.get("batch_size", sampler.batch_size))
    if int(state["batch"]) > 0 and saved_batch != sampler.batch_size:
        raise TrainingError(
            f"{path} stopped mid-epoch with a global batch of {saved_batch}; resume with "
            f"--batch-size {saved_batch} (got {sampler.batch_size})"
        )


def _quiet(message: str) -> None:
    pass


def _tensorboard_writer(run_dir: Path):
    """A SummaryWriter into run_dir/tb when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tb"))

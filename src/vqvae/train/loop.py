"""One explicit training loop for the VQ-VAE: shuffle, step, log, evaluate, checkpoint, resume.

Read top-down: ``train`` prepares everything (data, the model with its initialisation and
code assignment rule, the optimizer, the restored position), then ``Loop.run`` repeats
batch -> forward -> loss -> step, with logging, evaluations every ``eval_every`` steps (or
tenth of a time budget) and at the end, and checkpoints at each evaluation, every
``checkpoint_every`` steps and at the end. Training modes are preparation steps
(``prepare_model``), not branches in the loop.

The run's length is its plan: ``max_steps`` (the recipes' way: the same model on any
machine), ``epochs``, or a time budget ``max_minutes`` alone; ``max_minutes`` beside a step
plan caps it, and a run cut short says how far it got. Evaluations count inside the time.

Everything random is derived from ``seed``: the model's initialisation, each epoch's
permutation (a generator seeded by (seed, epoch)), each batch's crops (a generator seeded by
(seed, epoch, batch)) and the global RNG that k-means init and code restarts draw from (saved
in the checkpoint). So a resumed run replays exactly the batches and random draws an
uninterrupted run would have: on CPU its final weights are bit-identical.

Under ``torchrun`` (see ``distributed.py``) the model is wrapped in DDP and every rank trains
on its slice of the same global batch; all ranks hold bit-identical weights, codebooks and
global RNG states, so rank 0 alone evaluates, logs and writes the run dir.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from .. import checkpoint, dist, metrics
from ..config import TrainConfig, VQVAEConfig
from ..corruptions import corrupt
from ..data import ImageDataset
from ..data.audio import AudioDataset, is_audio_dataset, load_audio_splits
from ..data.streamed import StreamedImages
from ..device import autocast_for
from ..errors import CheckpointError, VQVAEError
from ..evaluation import evaluate, summary
from ..models import VQVAE, is_audio
from ..models.assignment import context_assignment, load_assignment
from ..models.features import PerceptualLoss
from ..progress import Progress
from . import decoder, distributed, rundir, warm_start
from .adversarial import STATE_KEYS as ADVERSARY_STATE_KEYS
from .adversarial import Adversary
from .batches import InMemoryBatches, StreamedBatches, batch_source, load_splits, rank_warn
from .sampler import DistributedBatchSampler, epoch_permutation
from .sampler import batch_generator as _batch_generator
from .schedule import EVALUATIONS, evaluation_interval, evaluation_size, scheduled_lr
from .tensorboard import log_media

METRICS_FILE = "metrics.jsonl"
ETA_AFTER = 10.0  # seconds of training before the first estimate of the time left
DEFAULT_STRIDES = (2, 4, 4, 5)  # an audio model's strides when none are given: hop 160
# What train_state.pt must hold to resume.
_STATE_KEYS = ("model", "optimizer", "rng", "step", "epoch", "batch", "elapsed")

__all__ = ["TrainingError", "epoch_permutation", "load_splits", "model_config_for", "train"]


class TrainingError(VQVAEError):
    """Training cannot go on (diverged, inconsistent checkpoint, ...)."""


def train(
    model_config: VQVAEConfig,
    train_config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    overwrite: bool = False,
) -> dict[str, float]:
    """Train a VQ-VAE into ``run_dir`` and return the last evaluation's metrics.

    Launched by ``torchrun`` (or inside a process group the caller set up), every process
    calls this; they train one DDP model on ``batch_size`` images per step in total, and
    rank 0 writes the run dir.

    Args:
        model_config: architecture; ``in_channels`` / ``image_size`` are taken from the data.
        train_config: data, schedule and initialisation.
        run_dir: where config.json, model.safetensors, train_state.pt and metrics.jsonl go.
        resume: continue from ``run_dir/train_state.pt`` (model config is taken from the run).
        progress: show a progress bar (rank 0 only).
        log: where one-line messages go (rank 0 only).
        overwrite: replace a run already in ``run_dir`` (otherwise a new run refuses it).

    Returns:
        The last evaluation's metrics (see ``vqvae.evaluation.evaluate``); ``{}`` on ranks
        other than 0.

    Raises:
        TrainingError: the loss or the weights became NaN/Inf (the last checkpoint is kept).
        CheckpointError: ``resume`` and the run dir's checkpoint is missing or damaged; a
            new run into a dir that holds one (without ``overwrite``); another process
            training into ``run_dir``.
    """
    with (
        distributed.process_group(train_config.schedule.device) as device,
        warnings.catch_warnings(),
    ):
        # DDP notes once that a 1-channel conv's gradient has other (equally valid) strides
        # than its bucket; harmless, and not the user's to fix.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        if not dist.is_main_process():
            progress, log = False, _quiet
        run_dir = Path(run_dir)
        with _claimed(run_dir, resume, overwrite, device):
            loop = _prepare(model_config, train_config, run_dir, resume, log, device)
            with _stop_signals() as stop_requested:
                result = loop.run(progress, stop_requested)
            dist.barrier()  # the others wait for rank 0's last evaluation and checkpoint
        if stop_requested():
            log(f"interrupted at step {loop.step}: checkpoint written, continue with --resume")
            raise KeyboardInterrupt
        loop.report_cut_short()
        return result


@contextlib.contextmanager
def _claimed(run_dir: Path, resume: bool, overwrite: bool, device: torch.device):
    """Rank 0 claims the run dir (``rundir``: no run overwritten by accident, one trainer at a
    time) for the block; every rank stops if it cannot."""
    with contextlib.ExitStack() as stack:
        refused: CheckpointError | None = None
        if dist.is_main_process():
            try:
                rundir.check_new_run(run_dir, resume, overwrite)
                stack.enter_context(rundir.locked(run_dir))
                if overwrite and not resume:
                    rundir.clear_run(run_dir)
            except CheckpointError as exc:
                refused = exc
        if dist.any_rank(refused is not None, device):
            raise refused or CheckpointError(f"{run_dir}: refused by rank 0")
        yield


@contextlib.contextmanager
def _stop_signals() -> Iterator[Callable[[], bool]]:
    """While training: Ctrl-C (SIGINT) and SIGTERM ask the loop to stop after its current
    step, write a checkpoint and return; a second signal interrupts at once."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # signal handlers can only be set from the main thread
        return

    def ask(signum, frame):  # noqa: ANN001
        if received:
            raise KeyboardInterrupt
        received.append(signum)

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _prepare(
    model_config: VQVAEConfig,
    config: TrainConfig,
    run_dir: Path,
    resume: bool,
    log: Callable[[str], None],
    device: torch.device,
) -> Loop:
    """Data, model, optimizer and position of a (new or resumed) run; writes its config."""
    state, saved = None, None
    if resume:
        saved = checkpoint.read_run_config(run_dir)
        state = checkpoint.load_train_state(run_dir, required=_STATE_KEYS)
        model_config = VQVAEConfig.from_dict(saved["model"])
    torch.manual_seed(config.schedule.seed)
    if is_audio_dataset(config.data.dataset, config.data.data_dir):  # in RAM, resampled
        train_set, test_set = load_audio_splits(config.data, model_config.sample_rate)
    elif config.data.augment:
        raise VQVAEError("--augment is speech augmentation; this dataset holds images")
    else:
        train_set, test_set = load_splits(config.data, rank_warn)
    if not resume:
        model_config = model_config_for(train_set, model_config)
    elif train_set.channels != model_config.in_channels:
        raise TrainingError(
            f"{run_dir} was trained on {model_config.in_channels}-channel images, "
            f"but {config.data.dataset} has {train_set.channels}"
        )
    schedule = config.schedule
    if isinstance(train_set, AudioDataset):
        sampler = DistributedBatchSampler(
            len(train_set), schedule.batch_size, schedule.seed, dist.rank(), dist.world_size()
        )
        source = InMemoryBatches(train_set, sampler, schedule.seed)
    else:
        source = batch_source(
            train_set, config.data, schedule.batch_size, schedule.seed, device, rank_warn
        )
    model = prepare_model(model_config, config, run_dir, saved, device, log)
    if state is None and not is_audio(model):  # (an audio clip's length varies)
        note = too_small_note(len(train_set), _stored_size(train_set), model)
        if note:
            log(note)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=config.schedule.lr
    )
    loop = Loop(config, run_dir, model, optimizer, source, train_set, test_set, device, log)
    loop.adversary = _adversary(config, model, device)
    loop.perceptual = _perceptual(config, model, device)
    if state is not None:
        loop.restore(state)
        log(f"resuming {run_dir} at epoch {loop.epoch + 1}, step {loop.step}")
    if dist.is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.remove_stale_temp_files(run_dir)
        if state is None:  # a run dir from the start: --resume needs config.json
            loop.save_model()
    if dist.world_size() > 1:
        log(
            f"training on {dist.world_size()} processes ({device.type}), "
            f"{source.local_batch_size} of {source.batch_size} images each per step"
        )
    return loop


def _adversary(config: TrainConfig, model: VQVAE, device: torch.device) -> Adversary | None:
    """The discriminator of adversarial training (the model's signal picks it), or None."""
    if not config.losses.adversarial:
        return None
    wrap = (lambda m: _wrap_ddp(m, device)) if dist.world_size() > 1 else None
    schedule = config.schedule
    return Adversary(model, config.losses, schedule.lr, device, wrap, seed=schedule.seed)


def _perceptual(config: TrainConfig, model: VQVAE, device: torch.device) -> PerceptualLoss | None:
    """The perceptual loss of --perceptual-weight (image models only), or None."""
    if config.losses.perceptual_weight == 0:
        return None
    if is_audio(model):
        raise TrainingError("--perceptual-weight trains image models only")
    return PerceptualLoss.load(config.losses.perceptual_net, device)


def prepare_model(
    model_config: VQVAEConfig,
    config: TrainConfig,
    run_dir: Path,
    saved: dict[str, Any] | None,
    device: torch.device,
    log: Callable[[str], None],
) -> VQVAE:
    """The model before its first step: fresh, warm-started, or the decoder-only setup on
    another run's frozen encoder and quantizer; with the code assignment rule it trains under
    (``saved``: the run dir's config.json when resuming: weights come from the checkpoint)."""
    init = config.init
    model = VQVAE(model_config)
    if init.codes_from is not None:  # decoder only: the source's codes, frozen, chosen its way
        if saved is None:
            decoder.load_codes_from(model, init.codes_from)
        decoder.freeze_codes(model)
    elif init.init_from is not None and saved is None:
        copied = warm_start.load_matching_parts(model, init.init_from)
        log(f"starting from {init.init_from}: {', '.join(copied)} copied")
    # channels_last speeds up convolutions on CUDA (tensor cores); the quantizer reshapes
    # z_e itself, so it does not care about the memory format.
    model = model.to(device, memory_format=_memory_format(model_config, device))
    if config.schedule.compile:  # in place: state_dict keys stay those of the plain modules
        model.encoder.compile()
        model.decoder.compile()
    if saved is not None:
        model.assignment = load_assignment(run_dir, saved)
    elif init.rate_prior is not None:
        model.assignment = _rate_prior_assignment(config, model, device)
        log(
            f"assigning codes under the prior of {init.rate_prior} (lambda {init.rate_prior_weight})"
        )
    return model


def _rate_prior_assignment(config: TrainConfig, model: VQVAE, device: torch.device):
    """The assignment rule of ``--rate-prior``, checked against the model's code maps."""
    init = config.init
    try:
        rule = context_assignment(init.rate_prior, init.rate_prior_weight, map_location=device)
        side = config.data.random_crop or None
        h, w = (side, side) if side else model.config.image_size
        f = model.downsample_factor
        rule.check(model.quantizer, (-(-h // f), -(-w // f)))
    except (ValueError, CheckpointError) as exc:
        raise TrainingError(f"--rate-prior {init.rate_prior}: {exc}") from None
    return rule


def _memory_format(model_config: VQVAEConfig, device: torch.device) -> torch.memory_format:
    channels_last = device.type == "cuda" and model_config.arch == "conv"
    channels_last = channels_last and model_config.modality == "image"
    return torch.channels_last if channels_last else torch.contiguous_format


def _stored_size(dataset: ImageDataset | StreamedImages) -> tuple[int, int]:
    """(H, W) of a dataset's images before any random crop."""
    if isinstance(dataset, StreamedImages):
        return tuple(dataset.full_size)
    return tuple(dataset.images.shape[-2:])


VECTORS_PER_CODE = 4  # fewer training code vectors than this per code: many go unused


def too_small_note(num_images: int, image_size: tuple[int, int], model: VQVAE) -> str | None:
    """One line when ``num_images`` training images of ``image_size`` (H, W) are little data
    for ``model`` (fewer pixel values than the model has parameters, or fewer code vectors
    than ``VECTORS_PER_CODE`` per code), else None."""
    config = model.config
    h, w = image_size
    f = model.downsample_factor
    vectors = num_images * -(-h // f) * -(-w // f)
    values = num_images * config.in_channels * h * w
    params = sum(p.numel() for p in model.parameters())
    codes = model.quantizer.codebook_size
    if values >= params and vectors >= VECTORS_PER_CODE * codes:
        return None
    return (
        f"note: {num_images} training images ({values:,} pixel values, {vectors:,} code "
        f"vectors) are little data for this model ({params:,} parameters, {codes} codes): "
        "expect it to fit these images better than new ones, and codes left unused; more "
        "images, or a smaller model (--hidden, --codebook-size), fit better"
    )


def model_config_for(dataset: ImageDataset, base: VQVAEConfig) -> VQVAEConfig:
    """Adapt ``base`` to the dataset's channels and image size (audio: its sample rate)."""
    if base.modality == "audio" and not isinstance(dataset, AudioDataset):
        raise TrainingError(f"{dataset.name} holds images; --strides is for audio data")
    if isinstance(dataset, AudioDataset):
        strides = base.strides or DEFAULT_STRIDES
        return base.replace(
            modality="audio", sample_rate=dataset.sample_rate, strides=strides, in_channels=1
        )
    return base.replace(in_channels=dataset.channels, image_size=tuple(dataset.image_size))


def _corrupt_input(x: torch.Tensor, config: TrainConfig, epoch: int, batch: int) -> torch.Tensor:
    """The denoiser's input: ``x`` corrupted by ``train_noise`` with a (seed, epoch,
    batch)-derived generator (so resumed runs replay the same noise), else ``x``."""
    noise = config.data.train_noise
    if noise is None:
        return x
    return corrupt(x, noise, _batch_generator(config.schedule.seed + 7_777_777, epoch, batch))


@dataclass
class Loop:
    """A prepared run and where it stands: ``run()`` trains it to the end of its schedule."""

    config: TrainConfig
    run_dir: Path
    model: VQVAE
    optimizer: torch.optim.Optimizer
    source: InMemoryBatches | StreamedBatches  # each step's images (``batches``)
    train_set: ImageDataset | StreamedImages
    test_set: ImageDataset | StreamedImages
    device: torch.device
    log: Callable[[str], None] = print
    step: int = 0
    epoch: int = 0  # epochs completed
    batch: int = 0  # the next batch of the current epoch
    elapsed: float = 0.0  # training seconds, over every invocation of the run
    elapsed_before: float = 0.0  # of that, before this invocation (--max-minutes is per call)
    adversary: Adversary | None = None  # the discriminator of adversarial training
    perceptual: PerceptualLoss | None = None  # --perceptual-weight's loss (its net frozen)

    def __post_init__(self) -> None:
        self.main = dist.is_main_process()
        self.ddp = _wrap_ddp(self.model, self.device) if dist.world_size() > 1 else self.model
        self.memory_format = _memory_format(self.model.config, self.device)
        schedule = self.config.schedule
        self.budget = schedule.max_minutes * 60 if schedule.max_minutes else math.inf
        self.max_steps = schedule.max_steps or math.inf
        self.total_steps = min(self.max_steps, schedule.epochs * self.source.batches_per_epoch)
        # --max-minutes without --max-steps: the time is the plan, evaluated by the clock
        self.timed = self.budget < math.inf and self.max_steps == math.inf
        self.eval_every = evaluation_interval(
            math.inf if self.timed else self.total_steps, schedule.eval_every
        )
        self.last_eval: dict[str, float] = {}
        self.evaluated_at = -1  # the step of the last evaluation
        self.started_at = (0, 0.0)  # (step, elapsed) after this invocation's first step
        self.eta_shown = False

    @property
    def deadline(self) -> float:
        """The run's training seconds at which this invocation's ``--max-minutes`` ends."""
        return self.elapsed_before + self.budget

    def run(self, progress: bool, stop_requested: Callable[[], bool] = lambda: False) -> dict:
        """Train until the plan ends (or a stop is requested: then after the current step),
        evaluating and checkpointing along the way (``train_epoch``); then evaluate on the
        whole test set and checkpoint."""
        writer = _tensorboard_writer(self.run_dir) if self.main else None
        stop = False
        self.elapsed_before = self.elapsed
        self.started_at = (self.step + 1, math.inf)  # set after the first step (k-means init)
        self.next_eval_time = self.elapsed + self.budget / EVALUATIONS  # timed plans
        self.check_set = self.periodic_test_set()
        total = None if self.timed else self.total_steps
        bar = Progress(total, "training", "step", enabled=progress)
        bar.update(self.step)  # a resumed run starts where it stopped
        try:
            while self.epoch < self.config.schedule.epochs and not stop:
                stop = self.train_epoch(bar, writer, stop_requested)
                if self.batch >= self.source.batches_per_epoch:
                    self.epoch, self.batch = self.epoch + 1, 0
                if stop_requested():  # interrupted: keep the work, skip the evaluation
                    self.save()
                    return self.last_eval
        finally:
            bar.close()
        if self.main:  # the others wait in their next collective
            self.evaluate(writer, self.test_set)
        self.save()
        if writer is not None:
            writer.close()
        return self.last_eval

    def periodic_test_set(self):
        """The part of the test set seen by the evaluations along the way
        (``schedule.evaluation_size``; all of it with --eval-subset or a timed plan)."""
        if self.config.data.eval_subset:
            return self.test_set
        total = math.inf if self.timed else self.total_steps
        n = evaluation_size(len(self.test_set), total, self.source.batch_size)
        return self.test_set if n >= len(self.test_set) else self.test_set.subset(n)

    def evaluation_due(self) -> bool:
        """Whether the step just taken is evaluated along the way (never the last one: the
        run's end evaluates on the whole test set)."""
        if self.step >= self.total_steps:
            return False
        if self.timed and self.eval_every == math.inf:
            if self.elapsed < self.next_eval_time or self.elapsed >= self.deadline:
                return False
            while self.next_eval_time <= self.elapsed:
                self.next_eval_time += self.budget / EVALUATIONS
            return True
        return self.step % self.eval_every == 0

    def train_epoch(self, bar: Progress, writer, stop_requested: Callable[[], bool]) -> bool:
        """The rest of the current epoch; True when the run must stop (time or step limit,
        or a stop requested by a signal)."""
        self.model.train()
        if self.config.init.codes_from is not None:
            decoder.hold_codes(self.model)
        per_epoch = self.source.batches_per_epoch
        batches = self.source.epoch(self.epoch, self.batch)
        started = time.perf_counter()
        try:
            for b, x in zip(range(self.batch, per_epoch), batches, strict=True):
                out, loss, x = self.train_step(b, x)
                self.batch = b + 1
                now = time.perf_counter()
                self.elapsed += now - started
                started = now
                self.sync_clock()
                if self.step == self.started_at[0]:  # the speed is measured from here on
                    self.started_at = (self.step, self.elapsed)
                bar.update()
                if bar.enabled and self.step % 10 == 0:
                    bar.set_postfix(**self.postfix(out, loss, x))
                if writer is not None:
                    _log_step(writer, self.step, loss, out)
                self.show_eta()
                # Ranks measure time and see signals separately; stop together when any must.
                must_stop = stop_requested() or self.elapsed >= self.deadline
                if dist.any_rank(must_stop, self.device) or self.step >= self.max_steps:
                    return True
                every = self.config.schedule.checkpoint_every
                if self.evaluation_due():
                    if self.main:
                        self.evaluate(writer, self.check_set)
                        self.model.train()
                        if self.config.init.codes_from is not None:
                            decoder.hold_codes(self.model)
                    self.save()
                    started = time.perf_counter()  # the evaluation's time is counted in it
                elif every and self.step % every == 0:
                    self.save()
        finally:
            batches.close()
        return False

    def eta(self) -> str | None:
        """The time left to the planned step count at this invocation's measured speed
        (evaluations included), or None when the plan is a time budget."""
        step0, elapsed0 = self.started_at
        done, spent = self.step - step0, self.elapsed - elapsed0
        if self.timed or done <= 0 or not math.isfinite(self.total_steps):
            return None
        left = (self.total_steps - self.step) * spent / done
        return f"about {_duration(min(left, self.deadline - self.elapsed))} to go"

    def show_eta(self) -> None:
        """Once, after ``ETA_AFTER`` seconds of this invocation: the measured speed and the
        time left (each evaluation's line updates it)."""
        if self.eta_shown or self.elapsed - self.started_at[1] < ETA_AFTER:
            return
        self.eta_shown = True
        eta = self.eta()
        if eta is not None and self.step < self.total_steps:
            rate = (self.step - self.started_at[0]) / (self.elapsed - self.started_at[1])
            self.log(f"step {self.step} of {self.total_steps} at {rate:.1f} steps/s: {eta}")

    def report_cut_short(self) -> None:
        """One line when --max-minutes ended a run before its planned steps."""
        if self.timed or self.step >= self.total_steps or self.elapsed < self.deadline:
            return
        self.log(
            f"stopped at {self.step} of {self.total_steps} steps by --max-minutes "
            f"{self.config.schedule.max_minutes:g}; the recipe's quality needs all of them "
            "(--resume continues the run)"
        )

    def train_step(self, b: int, x: torch.Tensor):
        """One optimizer step on batch ``b`` of the current epoch, whose images the batch
        source gave as ``x``: (output, mean loss, the clean batch on this rank)."""
        # In RAM the whole global batch is built (crops and noise drawn for every image)
        # before this rank takes its slice: the images do not depend on the number of ranks.
        x_in = _corrupt_input(x, self.config, self.epoch, b)  # x itself unless --train-noise
        x, x_in = (
            self.source.shard(t).to(
                self.device, non_blocking=True, memory_format=self.memory_format
            )
            for t in (x, x_in)
        )
        # the discriminator joins at step --adversarial-start (it neither trains nor judges before)
        adversarial = self.adversary is not None and self.adversary.active(self.step)
        if adversarial and self.step == self.config.losses.adversarial_start > 0:
            self.log(f"step {self.step + 1}: the discriminator joins (--adversarial-start)")
        with autocast_for(self.device):
            out = self.ddp(x_in, target=x)
            total = out.loss
            if self.perceptual is not None:  # frozen net: gradients reach x_hat only
                perceptual = self.perceptual(out.x_hat, x)
                total = total + self.config.losses.perceptual_weight * perceptual
                out.losses["perceptual"] = perceptual.detach()
            if adversarial:
                extra = self.adversary.generator_losses(out.x_hat, x)
                # the adaptive weight balances it against every loss before it (as VQGAN's nll)
                total = total + self.adversary.weighted(extra, other=total)
                out.losses.update({k: v.detach() for k, v in extra.items()})
        loss = total.detach().float()
        if dist.world_size() > 1:  # every rank must see the same verdict
            loss = dist.all_reduce_sum_(loss.clone()) / dist.world_size()
        if not torch.isfinite(loss):
            raise TrainingError(
                f"loss became {float(loss)} at step {self.step + 1}; stopped, "
                f"the last good checkpoint in {self.run_dir} is kept"
            )
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        schedule = self.config.schedule
        lr = scheduled_lr(schedule, self.step, self.total_steps, self.elapsed, self.deadline)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if schedule.clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), schedule.clip_grad)
        self.optimizer.step()
        if adversarial:  # then the discriminator, on this step's output
            out.losses["discriminator"] = self.adversary.step(out.x_hat, x, lr)
        self.step += 1
        return out, loss, x

    @property
    def epoch_number(self) -> int:
        """The 1-based epoch training is in or has just finished (as the progress bar shows)."""
        return self.epoch + 1 if self.batch else max(self.epoch, 1)

    def sync_clock(self) -> None:
        """A time-based schedule must follow one clock on every rank: rank 0's."""
        if self.config.schedule.lr_schedule != "constant" and self.budget < math.inf:
            clock = torch.tensor([self.elapsed], dtype=torch.float64, device=self.device)
            self.elapsed = float(dist.broadcast_(clock)[0])

    def postfix(self, out, loss: torch.Tensor, x: torch.Tensor) -> dict[str, str]:
        usage = out.indices.unique().numel() / self.model.quantizer.codebook_size
        return {
            "loss": f"{float(loss):.4f}",
            **self.quality(out, x),
            "ppl": f"{float(out.perplexity):.1f}",
            "usage": f"{usage:.2f}",
        }

    def quality(self, out, x: torch.Tensor) -> dict[str, str]:
        """The progress bar's reconstruction figure, PSNR (images) or the STFT loss (audio),
        and the adversarial losses once the discriminator plays."""
        adversarial = {
            name: f"{float(out.losses[key]):.3f}"
            for name, key in (("adv", "adversarial"), ("disc", "discriminator"))
            if key in out.losses
        }
        if is_audio(self.model):
            return {"stft": f"{float(out.losses['stft']):.3f}", **adversarial}
        psnr = float(metrics.psnr(x, out.x_hat.detach().float()).mean())
        return {"psnr": f"{psnr:.2f}", **adversarial}

    def evaluate(self, writer, test_set) -> None:
        """Evaluate on ``test_set``, append to metrics.jsonl and log one line (rank 0); the
        evaluation's time counts in the run's."""
        started = time.perf_counter()
        self.last_eval = evaluate(self.model, test_set, device=self.device)
        self.elapsed += time.perf_counter() - started
        self.evaluated_at = self.step
        record = {
            "epoch": self.epoch_number, "step": self.step, "elapsed": round(self.elapsed, 2),
            "test_images": len(test_set), **self.last_eval,
        }  # fmt: skip
        _append_jsonl(self.run_dir / METRICS_FILE, record)
        if writer is not None:
            for key, value in self.last_eval.items():
                writer.add_scalar(f"test/{key}", value, self.step)
            log_media(writer, self.model, self.test_set, self.step)  # pictures or sound
        e = self.last_eval
        of = "" if self.timed else f" of {self.total_steps}"
        eta = self.eta() if self.step < self.total_steps else None
        part = "" if test_set is self.test_set else f" ({len(test_set)} images)"
        self.log(
            f"step {self.step}{of} (epoch {self.epoch_number}): test{part} {summary(e)}, "
            f"perplexity {e['perplexity']:.1f}" + (f"; {eta}" if eta else "")
        )

    def save(self) -> None:
        """Checkpoint: train_state.pt (what --resume reads) first, then the model files."""
        # Weights are identical on every rank, so all agree on this check without talking.
        if not _all_finite(self.model):
            raise TrainingError(
                f"the weights became NaN/Inf by step {self.step}; not saving, "
                f"the last good checkpoint in {self.run_dir} is kept"
            )
        if not self.main:
            return
        cuda = self.device.type == "cuda"
        checkpoint.save_train_state(
            self.run_dir,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": torch.get_rng_state(),
                **({"cuda_rng": torch.cuda.get_rng_state(self.device)} if cuda else {}),
                "step": self.step,
                "epoch": self.epoch,
                "batch": self.batch,
                "batch_size": self.source.batch_size,
                "world_size": dist.world_size(),
                "elapsed": self.elapsed,
                **(self.adversary.state_dict() if self.adversary is not None else {}),
            },
        )
        self.save_model()

    def save_model(self) -> None:
        """config.json (with the training settings and step) and model.safetensors."""
        extra = {"train": self.config.to_dict(), "step": self.step}
        self.model.save_pretrained(self.run_dir, extra=extra)

    def restore(self, state: dict[str, Any]) -> None:
        """Model, optimizer, RNG states and position from ``train_state.pt``."""
        path = self.run_dir / checkpoint.TRAIN_STATE_FILE
        _check_state(state, path)
        if self.adversary is not None and not all(k in state for k in ADVERSARY_STATE_KEYS):
            raise CheckpointError(f"{path}: damaged training state (no discriminator)")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.adversary is not None:
                self.adversary.load_state_dict(state)
        except (RuntimeError, ValueError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CheckpointError(f"{path}: does not match the run's model ({first})") from None
        torch.set_rng_state(state["rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        saved_batch = int(state.get("batch_size", self.source.batch_size))
        if int(state["batch"]) > 0 and saved_batch != self.source.batch_size:
            raise TrainingError(
                f"{path} stopped mid-epoch with a global batch of {saved_batch}; resume with "
                f"--batch-size {saved_batch} (got {self.source.batch_size})"
            )
        self.step, self.epoch, self.batch = (int(state[k]) for k in ("step", "epoch", "batch"))
        self.elapsed = float(state["elapsed"])


def _check_state(state: dict[str, Any], path: Path) -> None:
    """The position and RNG fields of a training state have the types and ranges a run
    writes (CheckpointError, one line, otherwise)."""

    def bad(key: str, what: str):
        return CheckpointError(f"{path}: damaged training state ({key} must be {what})")

    for key in ("step", "epoch", "batch"):
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad(key, f"an integer >= 0, not {value!r}")
    elapsed = state["elapsed"]
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)):
        raise bad("elapsed", f"a number, not {elapsed!r}")
    if not (math.isfinite(elapsed) and elapsed >= 0):
        raise bad("elapsed", f"a finite number >= 0, not {elapsed!r}")
    rng, expected = state["rng"], torch.get_rng_state()
    if (
        not isinstance(rng, torch.Tensor)
        or rng.dtype != expected.dtype
        or rng.shape != expected.shape
    ):
        raise bad("rng", f"a {expected.dtype} tensor of {expected.numel()} values")
    for key in ("model", "optimizer"):
        if not isinstance(state[key], dict):
            raise bad(key, "a state dict")


def _log_step(writer, step: int, loss: torch.Tensor, out) -> None:
    """A training step's scalars for tensorboard."""
    writer.add_scalar("train/loss", float(loss), step)
    for key in ("adversarial", "feature", "discriminator", "adaptive_weight"):
        if key in out.losses:
            writer.add_scalar(f"train/{key}", float(out.losses[key]), step)
    writer.add_scalar("train/perplexity", float(out.perplexity), step)


def _duration(seconds: float) -> str:
    """``seconds`` as "40 s", "12 min" or "1 h 5 min"."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    checkpoint.append_line(path, json.dumps(record))  # never through a symlink


def _all_finite(module: torch.nn.Module) -> bool:
    tensors = [*module.parameters(), *module.buffers()]
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def _wrap_ddp(model: VQVAE, device: torch.device) -> DistributedDataParallel:
    """DDP that averages gradients but leaves buffers alone after the initial sync.

    Every rank keeps the EMA statistics identical by all-reducing them inside the quantizer,
    so rebroadcasting rank 0's buffers before each forward would only hide a divergence.
    """
    ids = [device.index] if device.type == "cuda" else None
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


def _quiet(message: str) -> None:
    pass


def _tensorboard_writer(run_dir: Path):
    """A SummaryWriter into run_dir/tb when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tb"))

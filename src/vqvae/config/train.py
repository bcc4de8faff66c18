"""The settings of a training run, by concern: data, schedule, initialisation, losses."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from ..corruptions import parse_corruption
from .checks import MAX_INT, check_int, check_optional, check_real, check_type


@dataclass(frozen=True)
class DataConfig:
    """What a run trains and evaluates on.

    Args:
        dataset: "mnist", "fashion-mnist", "cifar10", "fsdd" (speech) or a folder of images
            or of audio files.
        data_dir: where the dataset's files are (None: embedded / cache / $VQVAE_DATA_DIR).
        download: fetch the dataset into the cache dir when missing.
        train_subset: use only the first N training images.
        eval_subset: evaluate on only the first N test images.
        random_crop: train on random crops of this size (folders / CIFAR photos); audio:
            random segments of this many samples.
        train_noise: train as a denoiser: corrupt each input batch with this spec
            ("gaussian:0.5", "saltpepper:0.2", "mask:0.25"; see ``vqvae.corruptions``) and
            reconstruct the clean batch. None trains a plain autoencoder.
        data_loading: for a folder of images: "memory" (decode it all into RAM first),
            "stream" (decode batch by batch in loader workers) or "auto" (stream a folder
            whose decoded images would take more than 256 MiB). Tar shards always stream;
            the named datasets always load into RAM.
        workers: loader processes decoding streamed data (0: in the training process;
            None: min(4, CPU cores)).
        augment: speech: draw every training segment with a random speed, band, room,
            noise and level (``vqvae.data.augment``).
    """

    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = False
    train_subset: int | None = None
    eval_subset: int | None = None
    random_crop: int | None = None
    train_noise: str | None = None
    data_loading: str = "auto"
    workers: int | None = None
    augment: bool = False

    def __post_init__(self) -> None:
        check_type("dataset", self.dataset, str)
        check_type("augment", self.augment, bool)
        if self.data_loading not in ("auto", "memory", "stream"):
            raise ValueError(
                f"--data-loading must be auto, memory or stream, got {self.data_loading!r}"
            )
        check_optional(self.workers, lambda v: check_int("--workers", v, 0, 256))
        check_optional(self.data_dir, lambda v: check_type("data_dir", v, str))
        check_type("download", self.download, bool)
        for name in ("train_subset", "eval_subset", "random_crop"):
            value = getattr(self, name)
            flag = "--" + name.replace("_", "-")
            check_optional(value, lambda v, flag=flag: check_int(flag, v, 1, MAX_INT))
        if self.train_noise is not None:
            check_type("train_noise", self.train_noise, str)
            object.__setattr__(self, "train_noise", parse_corruption(self.train_noise).spec)


MAX_BATCH_SIZE = 4096
"""The largest batch a run trains with: a batch of 65536 images runs a 2-core, 24 GB machine
out of memory before its first step (DDP's global batch included: split it over steps)."""


@dataclass(frozen=True)
class ScheduleConfig:
    """How long and how a run trains.

    Args:
        epochs: passes over the training set.
        max_minutes: stop (checkpoint + evaluate) after this much training time.
        max_steps: stop after this many optimizer steps (mainly for tests).
        batch_size: images per step (the global batch under DDP).
        lr: Adam learning rate (the peak, with a schedule).
        lr_schedule: "constant", or "cosine": decay to zero over the run, measured by steps
            (--epochs / --max-steps) or by training time (--max-minutes), whichever ends first.
        warmup_steps: the learning rate rises linearly from lr/warmup_steps to lr over the
            first this many steps (0: none), before the schedule; it steadies a warm start,
            whose fresh Adam state would otherwise take full-size steps at once.
        clip_grad: clip the global gradient norm to this value before each step (None: no
            clipping).
        seed: seeds initialisation, shuffling, crops and code restarts.
        device: "auto", "cpu", "cuda" or "mps".
        checkpoint_every: also checkpoint every this many steps (0: only at evaluations
            and at the end).
        eval_every: evaluate on the test set every this many steps (None: about 10 times
            over the run, on a part of the test set; see ``vqvae.train.schedule``); the
            run's last step is always evaluated, on the whole test set (``eval_subset``).
        compile: torch.compile the encoder and decoder (in place: the saved weights do not
            change). Off by default: on CPU it does not pay (benchmarks/README.md).
    """

    epochs: int = 10
    max_minutes: float | None = None
    max_steps: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 500
    compile: bool = False
    warmup_steps: int = 0
    clip_grad: float | None = None
    eval_every: int | None = None

    def __post_init__(self) -> None:
        check_int("--epochs", self.epochs, 1, MAX_INT)
        check_optional(self.eval_every, lambda v: check_int("--eval-every", v, 1, MAX_INT))
        check_type("compile", self.compile, bool)
        check_optional(self.max_steps, lambda v: check_int("--max-steps", v, 1, MAX_INT))
        check_int("--batch-size", self.batch_size, 1, MAX_BATCH_SIZE)
        check_real("--lr", self.lr, 0.0, 1e3)
        if not self.lr > 0:
            raise ValueError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"--lr-schedule must be constant or cosine, got {self.lr_schedule!r}")
        check_int("--seed", self.seed, 0, 2**63 - 1)
        check_int("--warmup-steps", self.warmup_steps, 0, MAX_INT)
        if self.clip_grad is not None:
            check_real("--clip-grad", self.clip_grad, 0.0)
            if not self.clip_grad > 0:
                raise ValueError(f"--clip-grad must be > 0, got {self.clip_grad}")
        check_type("device", self.device, str)
        check_int("--checkpoint-every", self.checkpoint_every, 0, MAX_INT)
        if self.max_minutes is not None:
            check_real("--max-minutes", self.max_minutes, 0.0)
            if not self.max_minutes > 0:
                raise ValueError(f"--max-minutes must be > 0, got {self.max_minutes}")


@dataclass(frozen=True)
class InitConfig:
    """Where a run's weights and code assignment start from (at most one source of weights).

    Args:
        codes_from: train only the decoder, on the frozen encoder and quantizer of this run
            dir (``vqvae train-decoder``; see ``vqvae.train.decoder``); its code assignment
            rule comes along. None trains all.
        init_from: start a new run from this run dir's weights: each of encoder, quantizer
            and decoder whose sizes all match is copied (``vqvae.train.warm_start``), the rest
            is initialised as usual. Ignored on resume (the checkpoint has the weights).
        rate_prior: assign codes under this run dir's prior: nearest code under latent
            distance + ``rate_prior_weight`` x the code's length in bits in its context
            (``vqvae.models.assignment``; the prior is copied into the new run). None: the
            quantizer's own assignment.
        rate_prior_weight: lambda of that assignment, latent squared distance per bit.
    """

    codes_from: str | None = None
    init_from: str | None = None
    rate_prior: str | None = None
    rate_prior_weight: float = 0.0

    def __post_init__(self) -> None:
        for name in ("codes_from", "init_from", "rate_prior"):
            check_optional(getattr(self, name), lambda v, n=name: check_type(n, v, str))
        weight = self.rate_prior_weight
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise ValueError(f"--rate-prior-weight must be a number, got {weight!r}")
        if self.codes_from is not None and self.init_from is not None:
            raise ValueError("init_from and codes_from exclude each other")
        if (self.rate_prior is None) != (self.rate_prior_weight == 0):
            raise ValueError("--rate-prior and --rate-prior-weight go together")
        weight = self.rate_prior_weight
        if self.rate_prior is not None and not (weight > 0 and math.isfinite(weight)):
            raise ValueError(f"--rate-prior-weight must be a finite number > 0, got {weight}")


@dataclass(frozen=True)
class LossConfig:
    """Extra training losses: adversarial training (``vqvae.train.adversarial``).

    Perceptual loss (images; ``vqvae.models.features.PerceptualLoss``):
        perceptual_weight: weight of the distance between the feature maps of x and x_hat
            in a frozen feature net, added to the reconstruction loss (0: none).
        perceptual_net: that net's folder (None: the shipped ``perceptual`` net).

    Args:
        adversarial_weight: weight of the hinge loss of fooling a discriminator trained
            beside the model (images: a patch discriminator; audio: multi-scale STFT; 0: no
            discriminator).
        feature_weight: weight of feature matching on that discriminator's feature maps
            (None: ``adversarial_weight``).
        adversarial_start: the first this many steps train without the discriminator (it
            neither trains nor adds losses): the autoencoder settles first (VQGAN).
        adaptive_weight: scale the adversarial term by VQGAN's adaptive weight, the ratio of
            the gradient norms of the other losses and of it at the decoder's output layer
            (Esser et al. 2021, eq. 7). None: on for images, off for audio.
    """

    perceptual_weight: float = 0.0
    perceptual_net: str | None = None
    adversarial_weight: float = 0.0
    feature_weight: float | None = None
    # -- adversarial schedule and adaptive weight (issue #39) --
    adversarial_start: int = 0
    adaptive_weight: bool | None = None

    def __post_init__(self) -> None:
        check_real("--perceptual-weight", self.perceptual_weight, 0.0, 1000.0)
        object.__setattr__(self, "perceptual_weight", float(self.perceptual_weight))
        check_optional(self.perceptual_net, lambda v: check_type("--perceptual-net", v, str))
        check_real("--adversarial-weight", self.adversarial_weight, 0.0, 1000.0)
        object.__setattr__(self, "adversarial_weight", float(self.adversarial_weight))
        if self.feature_weight is None:
            object.__setattr__(self, "feature_weight", self.adversarial_weight)
        check_real("--feature-weight", self.feature_weight, 0.0, 1000.0)
        object.__setattr__(self, "feature_weight", float(self.feature_weight))
        self._check_adversarial_schedule()

    def _check_adversarial_schedule(self) -> None:
        check_int("--adversarial-start", self.adversarial_start, 0, MAX_INT)
        check_optional(self.adaptive_weight, lambda v: check_type("adaptive_weight", v, bool))
        if self.adversarial_start and not self.adversarial:
            raise ValueError("--adversarial-start needs --adversarial-weight or --feature-weight")
        if self.adaptive_weight and not self.adversarial_weight > 0:
            raise ValueError("--adaptive-weight scales the --adversarial-weight term: give it")

    def adaptive(self, modality: str) -> bool:
        """Whether the adversarial term gets the adaptive weight in a model of ``modality``
        (``adaptive_weight``, or by default: images yes, audio no)."""
        if self.adaptive_weight is None:
            return modality == "image" and self.adversarial_weight > 0
        return self.adaptive_weight

    @property
    def adversarial(self) -> bool:
        """Whether a discriminator trains beside the model."""
        return self.adversarial_weight > 0 or self.feature_weight > 0


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run, by concern: data, schedule, initialisation, losses.

    Saved in config.json under "train" as one flat object (``to_dict`` / ``from_dict``), so
    run dirs keep their layout; ``TrainConfig.of(epochs=2, dataset="cifar10")`` builds one
    from flat fields too.
    """

    data: DataConfig = field(default_factory=DataConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    init: InitConfig = field(default_factory=InitConfig)
    losses: LossConfig = field(default_factory=LossConfig)

    _PARTS = {"data": DataConfig, "schedule": ScheduleConfig, "init": InitConfig,
              "losses": LossConfig}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for part in self._PARTS:
            flat.update(dataclasses.asdict(getattr(self, part)))
        return flat

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """From the flat object of config.json (unknown keys ignored); ValueError if a
        setting has the wrong type or range."""
        if not isinstance(data, dict):
            raise ValueError(f"the training settings must be an object, got {data!r}")
        parts = {}
        for part, kind in cls._PARTS.items():
            names = {f.name for f in dataclasses.fields(kind)}
            parts[part] = kind(**{k: v for k, v in data.items() if k in names})
        return cls(**parts)

    @classmethod
    def of(cls, **flat: Any) -> TrainConfig:
        """From flat keyword fields; an unknown one is a TypeError."""
        known = set(cls.field_names())
        unknown = sorted(set(flat) - known)
        if unknown:
            raise TypeError(f"unknown training settings: {', '.join(unknown)}")
        return cls.from_dict(flat)

    @staticmethod
    def field_names() -> list[str]:
        """Every flat field name, in order."""
        return [f.name for kind in TrainConfig._PARTS.values() for f in dataclasses.fields(kind)]

    def replace(self, **flat: Any) -> TrainConfig:
        return self.of(**{**self.to_dict(), **flat})

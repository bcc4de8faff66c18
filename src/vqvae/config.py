"""Frozen dataclass configs, stored as JSON beside the weights so a run dir rebuilds its model."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .corruptions import parse_corruption
from .errors import CheckpointError


@dataclass(frozen=True)
class QuantizerConfig:
    """Settings of the vector quantizer.

    Args:
        kind: registry name of the quantizer class ("vq", "ema", ...).
        codebook_size: number of codes K.
        code_dim: dimension D of each code (and of the encoder output).
        commitment_weight: beta on the commitment term ||z_e - sg(e)||^2 (0.25 in the paper).
        decay: EMA decay of the codebook statistics (EMA quantizer).
        eps: Laplace smoothing of the EMA cluster sizes.
        kmeans_init: initialise the codebook by k-means on the first training batch.
        kmeans_iters: Lloyd iterations of that k-means.
        dead_code_threshold: a code is dead (and restarted from batch vectors) when its running
            usage falls below this fraction of a uniform share; 0 disables restarts.
        options: settings beyond the original fields, a plain JSON dict (only what is set is
            stored, so older config.json files and model fingerprints stay as they were):
            "rotation_trick" (bool: the rotation trick of Fifty et al. 2024 instead of the
            straight-through estimator), "entropy_weight" (float: weight of the codebook-
            diversity regulariser, 0 = off), "entropy_temperature" (its softmax temperature),
            "rate_weight" (float: lambda of entropy-constrained assignment, nearest code under
            ||z - e||^2 + lambda * -log2 p(code), p the running usage; 0 = plain nearest),
            "restart_decay" (float: EMA decay of the recent-usage counts that decide which
            codes are dead, default 0.9, i.e. a horizon of ~10 steps, so an unused code is
            restarted after ~35 steps whatever the codebook decay), "levels" (fsq: list of ints >= 3; codebook_size must equal their product),
            "num_stages", "dropout", "stage_kind" (rvq: stages, quantizer-dropout probability,
            "ema" or "vq" per stage), "groups", "stage_kind" (grouped), "lookup_dim" (cosine),
    """

    kind: str = "ema"
    codebook_size: int = 512
    code_dim: int = 64
    commitment_weight: float = 0.25
    decay: float = 0.99
    eps: float = 1e-5
    kmeans_init: bool = True
    kmeans_iters: int = 10
    dead_code_threshold: float = 0.03
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {self.codebook_size}")
        if self.code_dim < 1:
            raise ValueError(f"code_dim must be >= 1, got {self.code_dim}")
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {self.decay}")
        if self.commitment_weight < 0:
            raise ValueError(f"commitment_weight must be >= 0, got {self.commitment_weight}")
        if not isinstance(self.options, dict):
            raise ValueError(f"options must be a dict, got {type(self.options).__name__}")
        if self.entropy_weight < 0:
            raise ValueError(f"entropy_weight must be >= 0, got {self.entropy_weight}")
        if self.rate_weight < 0:
            raise ValueError(f"rate_weight must be >= 0, got {self.rate_weight}")
        if not 0.0 <= self.restart_decay < 1.0:
            raise ValueError(f"restart_decay must be in [0, 1), got {self.restart_decay}")

    def option(self, name: str, default: Any = None) -> Any:
        """``options[name]`` or ``default``."""
        return self.options.get(name, default)

    @property
    def rotation_trick(self) -> bool:
        """Rotation trick instead of straight-through (``options["rotation_trick"]``)."""
        return bool(self.options.get("rotation_trick", False))

    @property
    def rate_weight(self) -> float:
        """Lambda of entropy-constrained code assignment (``options["rate_weight"]``, 0)."""
        return float(self.options.get("rate_weight", 0.0))

    @property
    def restart_decay(self) -> float:
        """Decay of the usage EMA that picks dead codes (``options["restart_decay"]``, 0.9)."""
        return float(self.options.get("restart_decay", 0.9))

    @property
    def entropy_weight(self) -> float:
        """Weight of the entropy regulariser (``options["entropy_weight"]``, default 0)."""
        return float(self.options.get("entropy_weight", 0.0))


_DECODER_FIELDS = ("decoder_hidden_channels", "decoder_res_channels", "decoder_res_blocks")
_SHARED_FIELDS = ("hidden_channels", "res_channels", "num_res_blocks")  # the encoder's, in order


@dataclass(frozen=True)
class VQVAEConfig:
    """Settings of the encoder / decoder around the quantizer.

    Args:
        arch: "conv" (van den Oord et al. 2017: strided convs + residual blocks) or "mlp"
            (the seed's fully connected variant on flattened images).
        in_channels: image channels (1 grayscale, 3 RGB).
        image_size: (H, W) the model was trained on; required by "mlp", informative for "conv".
        hidden_channels: width of the conv trunk (hidden units for "mlp").
        res_channels: bottleneck width inside each residual block.
        num_res_blocks: residual blocks in encoder and decoder.
        downsample_factor: spatial reduction f (2, 4 or 8); code maps are (H/f, W/f).
        quantizer: the quantizer's settings.
        decoder_hidden_channels, decoder_res_channels, decoder_res_blocks: a decoder of
            another size than the encoder (``vqvae train-decoder``, ``train --decoder-*``);
            None (a value equal to the encoder's is stored as None): the encoder's. Stored only
            when set, so older config.json files and fingerprints stay as they were.
    """

    arch: str = "conv"
    in_channels: int = 1
    image_size: tuple[int, int] = (28, 28)
    hidden_channels: int = 128
    res_channels: int = 32
    num_res_blocks: int = 2
    downsample_factor: int = 4
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    decoder_hidden_channels: int | None = None
    decoder_res_channels: int | None = None
    decoder_res_blocks: int | None = None

    def __post_init__(self) -> None:
        if self.arch not in ("conv", "mlp"):
            raise ValueError(f"arch must be 'conv' or 'mlp', got {self.arch!r}")
        if self.downsample_factor not in (1, 2, 4, 8, 16):
            raise ValueError(
                f"downsample_factor must be 1, 2, 4, 8 or 16, got {self.downsample_factor}"
            )
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}")
        for name, shared in zip(_DECODER_FIELDS, _SHARED_FIELDS, strict=True):
            value = getattr(self, name)
            minimum = 0 if name == "decoder_res_blocks" else 1
            if value is not None and value < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {value}")
            if value == getattr(self, shared):  # the encoder's size: one way to say it, unset
                object.__setattr__(self, name, None)
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))

    def decoder_config(self) -> VQVAEConfig:
        """This config with the decoder's own sizes in the shared fields (what builds it)."""
        changes = {
            shared: getattr(self, name)
            for shared, name in zip(_SHARED_FIELDS, _DECODER_FIELDS, strict=True)
            if getattr(self, name) is not None
        }
        return dataclasses.replace(self, **changes, **{name: None for name in _DECODER_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in _DECODER_FIELDS:
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VQVAEConfig:
        try:
            data = dict(data)
            quantizer = QuantizerConfig(**data.pop("quantizer", {}))
            return cls(quantizer=quantizer, **data)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid model config: {exc}") from exc

    def replace(self, **changes: Any) -> VQVAEConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class DataConfig:
    """What a run trains and evaluates on.

    Args:
        dataset: "mnist", "fashion-mnist", "cifar10" or a folder of images.
        data_dir: where the dataset's files are (None: embedded / cache / $VQVAE_DATA_DIR).
        download: fetch the dataset into the cache dir when missing.
        train_subset: use only the first N training images.
        eval_subset: evaluate on only the first N test images.
        random_crop: train on random crops of this size (folders / CIFAR photos).
        train_noise: train as a denoiser: corrupt each input batch with this spec
            ("gaussian:0.5", "saltpepper:0.2", "mask:0.25"; see ``vqvae.corruptions``) and
            reconstruct the clean batch. None trains a plain autoencoder.
    """

    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = False
    train_subset: int | None = None
    eval_subset: int | None = None
    random_crop: int | None = None
    train_noise: str | None = None

    def __post_init__(self) -> None:
        if self.train_noise is not None:
            object.__setattr__(self, "train_noise", parse_corruption(self.train_noise).spec)


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
        seed: seeds initialisation, shuffling, crops and code restarts.
        device: "auto", "cpu", "cuda" or "mps".
        checkpoint_every: also checkpoint every this many steps (0: at epoch ends only).
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

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"--lr-schedule must be constant or cosine, got {self.lr_schedule!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
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
        if self.codes_from is not None and self.init_from is not None:
            raise ValueError("init_from and codes_from exclude each other")
        if (self.rate_prior is None) != (self.rate_prior_weight == 0):
            raise ValueError("--rate-prior and --rate-prior-weight go together")
        weight = self.rate_prior_weight
        if self.rate_prior is not None and not (weight > 0 and math.isfinite(weight)):
            raise ValueError(f"--rate-prior-weight must be a finite number > 0, got {weight}")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run, by concern: data, schedule, initialisation.

    Saved in config.json under "train" as one flat object (``to_dict`` / ``from_dict``), so
    run dirs keep their layout; ``TrainConfig.of(epochs=2, dataset="cifar10")`` builds one
    from flat fields too.
    """

    data: DataConfig = field(default_factory=DataConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    init: InitConfig = field(default_factory=InitConfig)

    _PARTS = ("data", "schedule", "init")

    def to_dict(self) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for part in self._PARTS:
            flat.update(dataclasses.asdict(getattr(self, part)))
        return flat

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """From the flat object of config.json (unknown keys ignored)."""
        parts = {}
        for part, kind in zip(cls._PARTS, (DataConfig, ScheduleConfig, InitConfig), strict=True):
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
        return [
            f.name
            for kind in (DataConfig, ScheduleConfig, InitConfig)
            for f in dataclasses.fields(kind)
        ]

    def replace(self, **flat: Any) -> TrainConfig:
        return self.of(**{**self.to_dict(), **flat})

"""Frozen dataclass configs, stored as JSON beside the weights so a run dir rebuilds its model."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from .corruptions import parse_corruption
from .errors import CheckpointError

# ---- field checks: a config.json may hold anything, so type and range come first -------------

MAX_PARAMETERS = 1 << 31
"""No config builds a model with more parameters (+ buffers) than this: a hostile or careless
config.json is refused before anything is allocated (the estimate runs on the config)."""
MAX_WIDTH = 1 << 14  # channels / hidden units / code dimension
MAX_CODEBOOK = 1 << 20
MAX_SIDE = 1 << 16  # image_size of an MLP model, code map sides of a prior


_MAX_INT = 2**62  # "unbounded" counts (steps, subsets, crops), still a sane integer


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in [low, high]: bools, floats and strings are refused (ValueError)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        span = f">= {low}" if high >= _MAX_INT else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {span}, got {value}")
    return int(value)


def check_real(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a finite float in [low, high] (ints allowed; bools, nan, inf are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return float(value)


def _check_optional(value: Any, check) -> None:
    if value is not None:
        check(value)


def _check_type(name: str, value: Any, kind: type) -> None:
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__}, got {value!r}")


# Typed options of QuantizerConfig: name -> check (unknown names are kept as they are).
_OPTION_CHECKS = {
    "rotation_trick": lambda v: _check_type("options.rotation_trick", v, bool),
    "entropy_weight": lambda v: check_real("options.entropy_weight", v, 0),
    "entropy_temperature": lambda v: check_real("options.entropy_temperature", v, 1e-6),
    "rate_weight": lambda v: check_real("options.rate_weight", v, 0),
    "restart_decay": lambda v: check_real("options.restart_decay", v, 0, 1),
    "dropout": lambda v: check_real("options.dropout", v, 0, 1),
    "num_stages": lambda v: check_int("options.num_stages", v, 1, 16),
    "groups": lambda v: check_int("options.groups", v, 1, MAX_WIDTH),
    "lookup_dim": lambda v: check_int("options.lookup_dim", v, 1, MAX_WIDTH),
    "stage_kind": lambda v: _check_type("options.stage_kind", v, str),
    "levels": lambda v: _check_levels(v),
}


def _check_levels(levels: Any) -> None:
    if not isinstance(levels, (list, tuple)) or not 1 <= len(levels) <= 32:
        raise ValueError(f"options.levels must be a list of 1 to 32 integers, got {levels!r}")
    for level in levels:
        check_int("options.levels[]", level, 1, MAX_CODEBOOK)


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
        _check_type("kind", self.kind, str)
        check_int("codebook_size", self.codebook_size, 2, MAX_CODEBOOK)
        check_int("code_dim", self.code_dim, 1, MAX_WIDTH)
        check_real("commitment_weight", self.commitment_weight, 0)
        if check_real("decay", self.decay, 0, 1) == 1:
            raise ValueError(f"decay must be in [0, 1), got {self.decay}")
        check_real("eps", self.eps, 0)
        _check_type("kmeans_init", self.kmeans_init, bool)
        check_int("kmeans_iters", self.kmeans_iters, 0, 10_000)
        check_real("dead_code_threshold", self.dead_code_threshold, 0)
        if not isinstance(self.options, dict):
            raise ValueError(f"options must be a dict, got {type(self.options).__name__}")
        for name, value in self.options.items():
            if name in _OPTION_CHECKS:
                _OPTION_CHECKS[name](value)
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


MODALITIES = ("image", "audio")
_AUDIO_FIELDS = ("modality", "sample_rate", "strides")
AUDIO_DECODERS = (None, "conv", "istft")
MAX_HOP = 1 << 14  # samples per audio code frame
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
        modality: "image" (2-D convs over (B, C, H, W)) or "audio" (1-D convs over mono
            waveforms (B, 1, T), ``vqvae.models.audio``). Audio models store ``modality``,
            ``sample_rate`` and ``strides`` and no ``image_size`` / ``downsample_factor``;
            image models store none of the three.
        sample_rate: audio: the rate (Hz) the model codes; input at another rate is resampled.
        strides: audio: the encoder's downsampling strides, e.g. (2, 4, 4, 5); their product
            is the hop length (samples per code frame). ``hidden_channels`` is the width of
            the first level (doubled at each stride), ``num_res_blocks`` the residual units
            per level (dilations 1, 3, 9, ...).
        audio_decoder: audio: "conv" (None, the default: the encoder's mirror) or "istft"
            (ConvNeXt blocks at two frames per code and an inverse-STFT output,
            ``models.audio.ISTFTDecoder``; ``num_res_blocks`` / ``decoder_res_blocks`` is
            its number of blocks). Stored only when "istft".
        phase_weight: audio with the "istft" decoder: weight of the phase loss
            (``models.audio.phase_loss``: the decoder's STFT phase against the target's,
            instantaneous phase, group delay and phase advance, anti-wrapped and weighted by
            the target's magnitude) added to the training loss; 0 (the default): none.
            Stored only when set.
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
    modality: str = "image"
    sample_rate: int | None = None
    strides: tuple[int, ...] | None = None
    audio_decoder: str | None = None
    phase_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be 'image' or 'audio', got {self.modality!r}")
        if self.modality == "audio":
            self._check_audio()
        elif self.sample_rate is not None or self.strides is not None:
            raise ValueError("sample_rate and strides are settings of audio models only")
        if self.audio_decoder not in AUDIO_DECODERS:
            raise ValueError(f"audio_decoder must be 'conv' or 'istft', got {self.audio_decoder!r}")
        if self.audio_decoder == "conv":  # the default: one way to say it, unset
            object.__setattr__(self, "audio_decoder", None)
        if self.audio_decoder is not None and self.modality != "audio":
            raise ValueError("audio_decoder is a setting of audio models only")
        weight = self.phase_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValueError(f"phase_weight must be a number, got {weight!r}")
        if not (math.isfinite(weight) and 0 <= weight <= 1000):
            raise ValueError(f"phase_weight must be in [0, 1000], got {weight!r}")
        if weight and self.audio_decoder != "istft":
            raise ValueError("phase_weight needs the istft audio decoder (audio_decoder 'istft')")
        object.__setattr__(self, "phase_weight", float(weight))
        if not isinstance(self.arch, str) or self.arch not in ("conv", "mlp"):
            raise ValueError(f"arch must be 'conv' or 'mlp', got {self.arch!r}")
        if isinstance(self.downsample_factor, bool) or self.downsample_factor not in (
            1,
            2,
            4,
            8,
            16,
        ):
            raise ValueError(
                f"downsample_factor must be 1, 2, 4, 8 or 16, got {self.downsample_factor!r}"
            )
        check_int("downsample_factor", self.downsample_factor, 1, 16)
        check_int("in_channels", self.in_channels, 1, 64)
        size = self.image_size
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise ValueError(f"image_size must be [height, width], got {size!r}")
        for side in size:
            check_int("image_size", side, 1, MAX_SIDE)
        check_int("hidden_channels", self.hidden_channels, 1, MAX_WIDTH)
        check_int("res_channels", self.res_channels, 1, MAX_WIDTH)
        check_int("num_res_blocks", self.num_res_blocks, 0, 1000)
        if not isinstance(self.quantizer, QuantizerConfig):
            raise ValueError(f"quantizer must be a QuantizerConfig, got {self.quantizer!r}")
        for name, shared in zip(_DECODER_FIELDS, _SHARED_FIELDS, strict=True):
            value = getattr(self, name)
            minimum = 0 if name == "decoder_res_blocks" else 1
            if value is not None:
                check_int(name, value, minimum, 1000 if minimum == 0 else MAX_WIDTH)
            if value == getattr(self, shared):  # the encoder's size: one way to say it, unset
                object.__setattr__(self, name, None)
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        parameters = estimate_parameters(self)
        if parameters * 5 // 4 > MAX_PARAMETERS:  # 5/4: the estimate's margin
            raise ValueError(
                f"this config would build a model of about {parameters:.3g} parameters, "
                f"more than the limit of {MAX_PARAMETERS:.3g}"
            )

    def _check_audio(self) -> None:
        if self.arch != "conv":
            raise ValueError(f"audio models are convolutional (arch 'conv'), got {self.arch!r}")
        if self.in_channels != 1:
            raise ValueError(
                f"audio models take mono audio (in_channels 1), got {self.in_channels}"
            )
        check_int("sample_rate", self.sample_rate, 1_000, 384_000)
        strides = self.strides
        if not isinstance(strides, (list, tuple)) or not 1 <= len(strides) <= 8:
            raise ValueError(f"strides must be a list of 1 to 8 integers, got {strides!r}")
        for stride in strides:
            check_int("strides[]", stride, 1, 16)
        if math.prod(strides) > MAX_HOP:
            raise ValueError(f"the strides' product (the hop length) must be <= {MAX_HOP}")
        if self.hidden_channels << len(strides) > MAX_WIDTH:
            raise ValueError(f"hidden_channels x 2^len(strides) must be <= {MAX_WIDTH}")
        object.__setattr__(self, "strides", tuple(int(s) for s in strides))

    @property
    def hop_length(self) -> int:
        """Audio: samples per code frame (the product of ``strides``)."""
        if self.strides is None:
            raise ValueError("hop_length is a property of audio models")
        return math.prod(self.strides)

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
        if data["audio_decoder"] is None:  # older config.json files and fingerprints unchanged
            del data["audio_decoder"]
        if not data["phase_weight"]:  # likewise
            del data["phase_weight"]
        if self.modality == "image":  # older config.json files and fingerprints unchanged
            for name in _AUDIO_FIELDS:
                del data[name]
        else:
            del data["image_size"], data["downsample_factor"]
            data["strides"] = list(self.strides)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VQVAEConfig:
        """The config of a config.json's "model" object; anything wrong is a one-line
        CheckpointError, raised before any module is built."""
        try:
            if not isinstance(data, dict):
                raise ValueError(f"expected an object, got {data!r}")
            data = dict(data)
            quantizer = data.pop("quantizer", {})
            if not isinstance(quantizer, dict):
                raise ValueError(f"quantizer must be an object, got {quantizer!r}")
            config = cls(quantizer=QuantizerConfig(**quantizer), **data)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid model config: {exc}") from None
        return config  # the quantizer kind is checked against the registry when built

    def replace(self, **changes: Any) -> VQVAEConfig:
        return dataclasses.replace(self, **changes)


def estimate_parameters(config: VQVAEConfig) -> int:
    """Parameters + buffers of the model ``config`` builds: an estimate from the sizes alone
    (within about 20%: the quantizers' buffers differ), computed without allocating anything."""
    q = config.quantizer
    stages = q.options.get("num_stages", 1) if q.kind == "rvq" else 1
    stages = stages if isinstance(stages, int) else 1
    quantizer = stages * (2 * q.codebook_size * q.code_dim + 4 * q.codebook_size)
    if config.modality == "audio":
        return _estimate_audio(config) + quantizer
    c, d, f = config.in_channels, q.code_dim, config.downsample_factor
    hidden, res, blocks = (getattr(config, name) for name in _SHARED_FIELDS)
    dec_hidden, dec_res, dec_blocks = (
        getattr(config, name) if getattr(config, name) is not None else getattr(config, shared)
        for name, shared in zip(_DECODER_FIELDS, _SHARED_FIELDS, strict=True)
    )
    if config.arch == "mlp":
        h, w = config.image_size
        pixels, codes = c * h * w, d * (h // f) * (w // f)

        def mlp(hidden: int, n_in: int, n_out: int) -> int:  # in -> hidden -> hidden -> out
            return (n_in + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * n_out

        return mlp(4 * hidden, pixels, codes) + mlp(4 * dec_hidden, codes, pixels) + quantizer

    n = int(math.log2(f))

    def widths(hidden: int) -> list[int]:  # as models.encoders._stage_widths
        return [hidden // 2 if (i == 0 and n > 1) else hidden for i in range(n)]

    def trunk(hidden: int, res: int, blocks: int) -> int:  # residual stack
        return blocks * ((9 * hidden + 1) * res + (res + 1) * hidden)

    encoder, width = 0, c
    for out in widths(hidden):  # strided 4x4 convs
        encoder, width = encoder + (16 * width + 1) * out, out
    encoder += (9 * width + 1) * hidden + trunk(hidden, res, blocks) + (hidden + 1) * d
    decoder, width = (9 * d + 1) * dec_hidden + trunk(dec_hidden, dec_res, dec_blocks), dec_hidden
    for out in [*widths(dec_hidden)[::-1][1:], c] if n else []:  # transposed 4x4 convs
        decoder, width = decoder + (16 * width + 1) * out, out
    if not n:
        decoder += (9 * dec_hidden + 1) * c
    return encoder + decoder + quantizer


def istft_frames(hop: int) -> tuple[int, int]:
    """(frame hop, FFT size) of the "istft" audio decoder for a code hop: two frames a code
    when the hop is even (one otherwise), a window of four frame hops."""
    frame_hop = hop // 2 if hop % 2 == 0 else hop
    return frame_hop, 4 * frame_hop


def _estimate_audio(config: VQVAEConfig) -> int:
    """Encoder + decoder parameters of an audio model (as ``models.audio`` builds them)."""
    d = config.quantizer.code_dim

    def side(hidden: int, blocks: int) -> int:
        width, total = hidden, 7 * hidden  # the 7-tap conv at the sample rate
        for stride in config.strides:
            half = max(width // 2, 1)
            total += blocks * (7 * width * half + half * width + 2 * width)  # residual units
            total += 2 * stride * width * 2 * width + 2 * width  # the strided conv
            width *= 2
        return total + 3 * width * d + d

    def istft(hidden: int, blocks: int) -> int:  # models.audio.ISTFTDecoder
        width, hop = hidden << len(config.strides), math.prod(config.strides)
        frame_hop, n_fft = istft_frames(hop)
        upsample = 2 * (hop // frame_hop) * width * width + width if hop != frame_hop else 0
        block = 7 * width + 6 * width * width + 14 * width
        head = (width + 1) * (n_fft + 2)
        return 7 * d * width + width + upsample + max(blocks, 1) * block + 4 * width + head

    dec_hidden = config.decoder_hidden_channels or config.hidden_channels
    dec_blocks = config.decoder_res_blocks
    dec_blocks = config.num_res_blocks if dec_blocks is None else dec_blocks
    decoder = istft if config.audio_decoder == "istft" else side
    return side(config.hidden_channels, config.num_res_blocks) + decoder(dec_hidden, dec_blocks)


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

    def __post_init__(self) -> None:
        _check_type("dataset", self.dataset, str)
        if self.data_loading not in ("auto", "memory", "stream"):
            raise ValueError(
                f"--data-loading must be auto, memory or stream, got {self.data_loading!r}"
            )
        _check_optional(self.workers, lambda v: check_int("--workers", v, 0, 256))
        _check_optional(self.data_dir, lambda v: _check_type("data_dir", v, str))
        _check_type("download", self.download, bool)
        for name in ("train_subset", "eval_subset", "random_crop"):
            value = getattr(self, name)
            flag = "--" + name.replace("_", "-")
            _check_optional(value, lambda v, flag=flag: check_int(flag, v, 1, _MAX_INT))
        if self.train_noise is not None:
            _check_type("train_noise", self.train_noise, str)
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
        warmup_steps: the learning rate rises linearly from lr/warmup_steps to lr over the
            first this many steps (0: none), before the schedule; it steadies a warm start,
            whose fresh Adam state would otherwise take full-size steps at once.
        clip_grad: clip the global gradient norm to this value before each step (None: no
            clipping).
        seed: seeds initialisation, shuffling, crops and code restarts.
        device: "auto", "cpu", "cuda" or "mps".
        checkpoint_every: also checkpoint every this many steps (0: at epoch ends only).
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

    def __post_init__(self) -> None:
        check_int("--epochs", self.epochs, 1, _MAX_INT)
        _check_type("compile", self.compile, bool)
        _check_optional(self.max_steps, lambda v: check_int("--max-steps", v, 1, _MAX_INT))
        check_int("--batch-size", self.batch_size, 1, 1 << 20)
        check_real("--lr", self.lr, 0.0, 1e3)
        if not self.lr > 0:
            raise ValueError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"--lr-schedule must be constant or cosine, got {self.lr_schedule!r}")
        check_int("--seed", self.seed, 0, 2**63 - 1)
        check_int("--warmup-steps", self.warmup_steps, 0, _MAX_INT)
        if self.clip_grad is not None:
            check_real("--clip-grad", self.clip_grad, 0.0)
            if not self.clip_grad > 0:
                raise ValueError(f"--clip-grad must be > 0, got {self.clip_grad}")
        _check_type("device", self.device, str)
        check_int("--checkpoint-every", self.checkpoint_every, 0, _MAX_INT)
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
            _check_optional(getattr(self, name), lambda v, n=name: _check_type(n, v, str))
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
    """Extra training losses (audio: adversarial training, ``vqvae.train.adversarial``).

    Args:
        adversarial_weight: weight of the hinge loss of fooling a multi-scale STFT
            discriminator trained beside the model (0: no discriminator).
        feature_weight: weight of feature matching on that discriminator's feature maps
            (None: ``adversarial_weight``).
    """

    adversarial_weight: float = 0.0
    feature_weight: float | None = None

    def __post_init__(self) -> None:
        check_real("--adversarial-weight", self.adversarial_weight, 0.0, 1000.0)
        object.__setattr__(self, "adversarial_weight", float(self.adversarial_weight))
        if self.feature_weight is None:
            object.__setattr__(self, "feature_weight", self.adversarial_weight)
        check_real("--feature-weight", self.feature_weight, 0.0, 1000.0)
        object.__setattr__(self, "feature_weight", float(self.feature_weight))

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

"""The model's settings (``VQVAEConfig``): encoder and decoder around the quantizer, for
images or audio."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckpointError
from .checks import MAX_PARAMETERS, MAX_SIDE, MAX_WIDTH, check_int
from .estimate import DECODER_FIELDS, SHARED_FIELDS, estimate_parameters
from .quantizer import QuantizerConfig

MODALITIES = ("image", "audio")
_AUDIO_FIELDS = ("modality", "sample_rate", "strides")
AUDIO_DECODERS = (None, "conv", "istft")
MAX_HOP = 1 << 14  # samples per audio code frame


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
        for name, shared in zip(DECODER_FIELDS, SHARED_FIELDS, strict=True):
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
            for shared, name in zip(SHARED_FIELDS, DECODER_FIELDS, strict=True)
            if getattr(self, name) is not None
        }
        return dataclasses.replace(self, **changes, **{name: None for name in DECODER_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in DECODER_FIELDS:
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

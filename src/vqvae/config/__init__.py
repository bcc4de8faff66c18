"""Frozen dataclass configs, stored as JSON beside the weights so a run dir rebuilds its model.

By concern: ``checks`` (field checks and limits), ``quantizer`` (``QuantizerConfig``),
``model`` (``VQVAEConfig``), ``estimate`` (parameter estimates per architecture) and
``train`` (``TrainConfig`` and its parts: data, schedule, initialisation, losses).
"""

from .checks import (
    MAX_CODEBOOK,
    MAX_INT,
    MAX_PARAMETERS,
    MAX_SIDE,
    MAX_WIDTH,
    check_int,
    check_optional,
    check_real,
    check_type,
)
from .estimate import estimate_parameters, istft_frames
from .model import AUDIO_DECODERS, MAX_HOP, MODALITIES, VQVAEConfig
from .quantizer import QuantizerConfig
from .train import DataConfig, InitConfig, LossConfig, ScheduleConfig, TrainConfig

__all__ = [
    "AUDIO_DECODERS",
    "MAX_CODEBOOK",
    "MAX_HOP",
    "MAX_INT",
    "MAX_PARAMETERS",
    "MAX_SIDE",
    "MAX_WIDTH",
    "MODALITIES",
    "DataConfig",
    "InitConfig",
    "LossConfig",
    "QuantizerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "VQVAEConfig",
    "check_int",
    "check_optional",
    "check_real",
    "check_type",
    "estimate_parameters",
    "istft_frames",
]

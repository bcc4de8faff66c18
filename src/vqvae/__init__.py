"""vqvae: vector-quantized autoencoders for images."""

__version__ = "0.1.0"

from .config import QuantizerConfig, VQVAEConfig  # noqa: E402
from .corruptions import Corruption, CorruptionError, corrupt, parse_corruption  # noqa: E402
from .denoise import denoise  # noqa: E402
from .errors import CheckpointError, DataError, VQVAEError  # noqa: E402
from .models import VQVAE, VQVAEOutput  # noqa: E402
from .quantizers import (  # noqa: E402
    EMAVectorQuantizer,
    Quantizer,
    QuantizerOutput,
    VectorQuantizer,
    build_quantizer,
)

__all__ = [
    "CheckpointError",
    "Corruption",
    "CorruptionError",
    "DataError",
    "EMAVectorQuantizer",
    "Quantizer",
    "QuantizerConfig",
    "QuantizerOutput",
    "VQVAE",
    "VQVAEConfig",
    "VQVAEError",
    "VQVAEOutput",
    "VectorQuantizer",
    "__version__",
    "build_quantizer",
    "corrupt",
    "denoise",
    "parse_corruption",
]

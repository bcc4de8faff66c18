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
    "Run",
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


def __getattr__(name: str):
    # ``vqvae.Run`` sits above the codec and data layers: loaded on first use, so that
    # ``import vqvae.quantizers`` (or models, codec, ...) does not load the layers above it.
    if name == "Run":
        from .runs import Run

        return Run
    raise AttributeError(f"module 'vqvae' has no attribute {name!r}")

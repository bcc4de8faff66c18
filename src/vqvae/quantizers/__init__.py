"""Quantizers behind one interface: ``out = quantizer(z_e)`` returns a ``QuantizerOutput``."""

from .base import (
    Quantizer,
    QuantizerOutput,
    build_quantizer,
    perplexity_from_counts,
    quantizer_names,
    register,
)
from .distance import nearest_code
from .kmeans import kmeans
from .vq import EMAVectorQuantizer, VectorQuantizer

__all__ = [
    "EMAVectorQuantizer",
    "Quantizer",
    "QuantizerOutput",
    "VectorQuantizer",
    "build_quantizer",
    "kmeans",
    "nearest_code",
    "perplexity_from_counts",
    "quantizer_names",
    "register",
]

"""Quantizers behind one interface: ``out = quantizer(z_e)`` returns a ``QuantizerOutput``.

Each kind registers itself under its ``QuantizerConfig.kind`` name: "vq", "ema" (vq.py),
"cosine" (cosine.py), "fsq" (fsq.py), "rvq" (residual.py), "grouped" (grouped.py).
"""

from .base import (
    Quantizer,
    QuantizerOutput,
    build_quantizer,
    perplexity_from_counts,
    quantizer_names,
    register,
)
from .cosine import CosineVectorQuantizer
from .distance import nearest_code
from .estimators import entropy_penalty, rotate_to, straight_through
from .fsq import FiniteScalarQuantizer, fsq_levels_for
from .grouped import GroupedVectorQuantizer
from .kmeans import kmeans
from .residual import ResidualVectorQuantizer
from .vq import EMAVectorQuantizer, VectorQuantizer

__all__ = [
    "CosineVectorQuantizer",
    "EMAVectorQuantizer",
    "FiniteScalarQuantizer",
    "GroupedVectorQuantizer",
    "Quantizer",
    "QuantizerOutput",
    "ResidualVectorQuantizer",
    "VectorQuantizer",
    "build_quantizer",
    "entropy_penalty",
    "fsq_levels_for",
    "kmeans",
    "nearest_code",
    "perplexity_from_counts",
    "quantizer_names",
    "register",
    "rotate_to",
    "straight_through",
]

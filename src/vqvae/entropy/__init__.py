"""Probability models over code maps: the interface the range coder and rate models share,
integer frequency tables, and the static (unigram) models."""

from .tables import (
    PRECISION,
    EntropyModel,
    ProbabilityModel,
    StaticEntropyModel,
    UniformEntropyModel,
    block_tables,
    coding_blocks,
    fingerprint_bytes,
    quantize_pmf,
    raster_schedule,
)

__all__ = [
    "PRECISION",
    "EntropyModel",
    "ProbabilityModel",
    "StaticEntropyModel",
    "UniformEntropyModel",
    "block_tables",
    "coding_blocks",
    "fingerprint_bytes",
    "quantize_pmf",
    "raster_schedule",
]

"""Field checks and limits: a config.json may hold anything, so type and range come first."""

from __future__ import annotations

import math
import numbers
from typing import Any

MAX_PARAMETERS = 1 << 31
"""No config builds a model with more parameters (+ buffers) than this: a hostile or careless
config.json is refused before anything is allocated (the estimate runs on the config)."""
MAX_WIDTH = 1 << 14  # channels / hidden units / code dimension
MAX_CODEBOOK = 1 << 20
MAX_SIDE = 1 << 16  # image_size of an MLP model, code map sides of a prior
MAX_INT = 2**62  # "unbounded" counts (steps, subsets, crops), still a sane integer


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in [low, high]: bools, floats and strings are refused (ValueError)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        span = f">= {low}" if high >= MAX_INT else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {span}, got {value}")
    return int(value)


def check_real(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a finite float in [low, high] (ints allowed; bools, nan, inf are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return float(value)


def check_optional(value: Any, check) -> None:
    """``check(value)`` unless ``value`` is None."""
    if value is not None:
        check(value)


def check_type(name: str, value: Any, kind: type) -> None:
    """ValueError unless ``value`` is a ``kind``."""
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a {kind.__name__}, got {value!r}")

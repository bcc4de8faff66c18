"""Autoregressive priors over code maps: sampling, likelihoods (bits) and completion."""

from .config import PriorConfig
from .io import PRIOR_DIR, has_prior, load_prior, save_prior, weights_fingerprint
from .sampling import complete, greedy, sample
from .transformer import KVCache, TransformerPrior

__all__ = [
    "KVCache",
    "PRIOR_DIR",
    "PriorConfig",
    "TransformerPrior",
    "complete",
    "greedy",
    "has_prior",
    "load_prior",
    "sample",
    "save_prior",
    "weights_fingerprint",
]

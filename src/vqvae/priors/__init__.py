"""Autoregressive priors over code maps: sampling, likelihoods (bits) and completion."""

from .config import PriorConfig
from .context import ContextConfig, ContextModel, has_context, load_context, save_context
from .io import PRIOR_DIR, has_prior, load_prior, save_prior, weights_fingerprint
from .sampling import complete, greedy, sample
from .transformer import KVCache, TransformerPrior

__all__ = [
    "ContextConfig",
    "ContextModel",
    "has_context",
    "load_context",
    "save_context",
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

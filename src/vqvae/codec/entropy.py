"""The range coder: integer frequency tables (``vqvae.entropy``) -> bytes, and back.

Encoder and decoder ask a probability model for its tables in the model's coding order
(``vqvae.entropy.tables``: the interface); ``check_consistency`` tests the contract on a given
map. The names of ``vqvae.entropy`` are re-exported here for the codec's users.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import constriction
import numpy as np
import torch

from ..entropy.tables import (  # noqa: F401  re-exported
    ENCODE_CHUNK,
    MAX_SYMBOLS,
    PRECISION,
    TOTAL,
    EntropyModel,
    ProbabilityModel,
    StaticEntropyModel,
    UniformEntropyModel,
    _shared,
    block_tables,
    check_tables,
    coding_blocks,
    fingerprint_bytes,
    fit_counts,
    quantize_pmf,
    raster_schedule,
    tables_for,
)
from ..priors.entropy import PriorEntropyModel
from ..progress import track


class CodingError(ValueError):
    """The range decoder found a payload that the model's tables cannot have produced."""


# ---- registry: entropy-model name -> loader ---------------------------------------------------

Loader = Callable[[object, "str | Path | None"], "EntropyModel | None"]
_LOADERS: dict[str, tuple[int, Loader]] = {}


def register_entropy_model(name: str, loader: Loader, priority: int = 0) -> None:
    """Make ``name`` loadable: ``loader(vqvae_model, run_dir_or_None)`` returns the model or None.

    When a run dir has several, ``load_entropy_model(..., name=None)`` picks the loadable one
    with the highest ``priority`` (static: 10, uniform: 0; a context model should use more).
    """
    _LOADERS[name] = (priority, loader)


def entropy_model_names() -> list[str]:
    return sorted(_LOADERS, key=lambda n: -_LOADERS[n][0])


def load_entropy_model(model, run_dir: str | Path | None, name: str | None = None) -> EntropyModel:
    """The entropy model ``name`` of a run dir (None: the best one it has).

    Raises:
        KeyError: ``name`` is not registered or the run dir has no such model.
    """
    names = [name] if name is not None else entropy_model_names()
    for candidate in names:
        if candidate not in _LOADERS:
            raise KeyError(f"unknown entropy model {candidate!r}")
        found = _LOADERS[candidate][1](model, run_dir)
        if found is not None:
            return found
    raise KeyError(f"no entropy model {name!r} in {run_dir}")


# Every probability model the codec knows, in one place (a run dir's best: highest priority).
register_entropy_model("prior", lambda model, run_dir: PriorEntropyModel.from_run_dir(run_dir), 20)
register_entropy_model(
    "static",
    lambda model, run_dir: None if run_dir is None else StaticEntropyModel.load(run_dir),
    priority=10,
)
register_entropy_model(
    "uniform", lambda model, run_dir: UniformEntropyModel(model.quantizer.codebook_size)
)


# ---- coding --------------------------------------------------------------------------------------


def _categorical(freqs: np.ndarray):
    """constriction model (+ per-symbol parameters, or None) for integer tables (n, K).

    The tables are dyadic (multiples of 2**-PRECISION), so they are exact in fp64 and
    constriction's fixed-point model sees the same numbers on both sides. A table shared by all
    rows becomes one model (the same quantization: ``perfect=False`` either way). constriction
    reads the raw buffer and ignores numpy strides: arrays must be C-contiguous.
    """
    if _shared(freqs):
        probs = np.ascontiguousarray(freqs[0], dtype=np.float64) / TOTAL
        return constriction.stream.model.Categorical(probs, perfect=False), None
    probs = np.ascontiguousarray(freqs, dtype=np.float64) / TOTAL
    return constriction.stream.model.Categorical(perfect=False), probs


def _encode_block(encoder, symbols: np.ndarray, freqs: np.ndarray) -> None:
    model, probs = _categorical(freqs)
    symbols = np.ascontiguousarray(symbols, dtype=np.int32)
    if probs is None:
        encoder.encode(symbols, model)
    else:
        encoder.encode(symbols, model, probs)


def _decode_block(decoder, freqs: np.ndarray) -> np.ndarray:
    model, probs = _categorical(freqs)
    if probs is None:
        return decoder.decode(model, len(freqs))
    return decoder.decode(model, probs)


def encode_symbols(symbols: np.ndarray, freqs: np.ndarray) -> bytes:
    """Range-code ``symbols`` (N,) with per-symbol tables (N, K); returns the payload."""
    encoder = constriction.stream.queue.RangeEncoder()
    if len(symbols):
        _encode_block(encoder, symbols, freqs)
    return encoder.get_compressed().astype("<u4").tobytes()


def encode(indices: torch.Tensor, model: EntropyModel) -> bytes:
    """Range-code a (H', W') map in ``model``'s coding order with its tables."""
    indices = indices.detach().cpu().long()
    order, freqs = tables_for(model, indices)
    return encode_symbols(indices.flatten().numpy()[order], freqs)


def decode(payload: bytes, shape: tuple[int, int], model: EntropyModel) -> torch.Tensor:
    """Inverse of ``encode``: (H', W') int64, asking ``model`` block by block.

    Raises:
        CodingError: the payload is not a whole number of 32-bit words, or it ends early /
            has data left over after the last symbol.
    """
    if len(payload) % 4:
        raise CodingError("payload is not a whole number of 32-bit words")
    shape = (int(shape[0]), int(shape[1]))
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    flat = torch.zeros(shape[0] * shape[1], dtype=torch.int64)
    blocks = coding_blocks(model, shape)
    for block in track(blocks, desc="decoding", unit="block"):
        freqs = block_tables(model, flat.view(shape), block)
        flat[torch.from_numpy(block)] = torch.from_numpy(
            _decode_block(decoder, freqs).astype(np.int64)
        )
    if not decoder.maybe_exhausted():
        raise CodingError("payload has data left over after the last code")
    return flat.view(shape)


def information_bits(indices: torch.Tensor, model: EntropyModel) -> float:
    """Sum of -log2 p(code) under the model's integer tables: the ideal payload size in bits."""
    indices = indices.detach().cpu().long()
    order, freqs = tables_for(model, indices)
    picked = freqs[np.arange(len(freqs)), indices.flatten().numpy()[order]]
    return float(np.sum(PRECISION - np.log2(picked)))


def check_consistency(
    model: EntropyModel, indices: torch.Tensor, decoder_model: EntropyModel | None = None
) -> None:
    """Assert the interface contract on one map: block-wise tables == the one-call tables.

    Asks for every block the way the decoder does (only earlier blocks filled in, zeros
    elsewhere) and compares with the encoder's tables; raises AssertionError on any difference.
    A prior's tests should call this on a few real maps. ``decoder_model``: a second instance
    of the same model for the decoder side, so that a model which keeps work between calls
    (a prior's cached steps) is checked from scratch as a real decoder would run.
    """
    indices = indices.detach().cpu().long()
    shape = tuple(indices.shape)
    order, full = tables_for(model, indices)
    model = decoder_model or model
    rows = {int(p): i for i, p in enumerate(order)}
    flat = torch.zeros(indices.numel(), dtype=torch.int64)
    for block in coding_blocks(model, shape):
        part = block_tables(model, flat.view(shape), block)
        expected = full[[rows[int(p)] for p in block]]
        if not np.array_equal(part, expected):
            raise AssertionError(
                f"tables of positions {block[:4].tolist()}... differ from the one-call tables"
            )
        idx = torch.from_numpy(block)
        flat[idx] = indices.flatten()[idx]

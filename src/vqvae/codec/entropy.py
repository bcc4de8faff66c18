"""The range coder: integer frequency tables (``vqvae.entropy``) -> bytes, and back.

Encoder and decoder ask a probability model for its tables in the model's coding order
(``vqvae.entropy.tables``: the interface); ``check_consistency`` tests the contract on a given
map. The names of ``vqvae.entropy`` are re-exported here for the codec's users.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import constriction
import numpy as np
import torch

from ..entropy.stages import StageEntropyModel
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
    chunk_positions,
    coding_blocks,
    coding_workers,
    fingerprint_bytes,
    fit_counts,
    ordered_map,
    pieces,
    quantize_pmf,
    raster_schedule,
    table_chunks,
    tables_for,
)
from ..priors.context_entropy import ContextEntropyModel
from ..priors.entropy import PriorEntropyModel
from ..progress import Progress
from . import memory


class CodingError(ValueError):
    """The range decoder found a payload that the model's tables cannot have produced."""


# ---- registry: entropy-model name -> loader ---------------------------------------------------

Loader = Callable[[object, "str | Path | None"], "EntropyModel | None"]
_LOADERS: dict[str, tuple[int, Loader, str | None]] = {}


def register_entropy_model(
    name: str, loader: Loader, priority: int = 0, how_to_make: str | None = None
) -> None:
    """Make ``name`` loadable: ``loader(vqvae_model, run_dir_or_None)`` returns the model or None.

    When a run dir has several, ``load_entropy_model(..., name=None)`` picks the loadable one
    with the highest ``priority`` (static: 10, uniform: 0; a context model should use more).
    ``how_to_make``: what gives a run dir one, named when it is missing; ``{run_dir}`` is
    replaced by the run dir (e.g. "run `vqvae fit-entropy {run_dir}` first").
    """
    _LOADERS[name] = (priority, loader, how_to_make)


def entropy_model_names() -> list[str]:
    return sorted(_LOADERS, key=lambda n: -_LOADERS[n][0])


def load_entropy_model(model, run_dir: str | Path | None, name: str | None = None) -> EntropyModel:
    """The entropy model ``name`` of a run dir (None: the best one it has).

    Raises:
        KeyError: ``name`` is not registered, or the run dir has no such model (the message
            says what makes one, if its registration does).
    """
    names = [name] if name is not None else entropy_model_names()
    for candidate in names:
        if candidate not in _LOADERS:
            raise KeyError(f"unknown entropy model {candidate!r}")
        found = _LOADERS[candidate][1](model, run_dir)
        if found is not None:
            return found
    how_to_make = _LOADERS[name][2] if name is not None else None
    hint = f"; {how_to_make.format(run_dir=run_dir)}" if how_to_make and run_dir else ""
    raise KeyError(f"no entropy model {name!r} in {run_dir}{hint}")


# Every probability model the codec knows, in one place (a run dir's best: highest priority).
register_entropy_model(
    "prior",
    lambda model, run_dir: PriorEntropyModel.from_run_dir(run_dir),
    priority=20,
    how_to_make="run `vqvae train-prior {run_dir}` first",
)
register_entropy_model(
    "context",
    lambda model, run_dir: (
        None
        if getattr(model.config, "modality", "image") == "audio"
        else ContextEntropyModel.from_run_dir(run_dir)
    ),
    priority=18,
    how_to_make="run `vqvae train-context {run_dir}` first",
)
register_entropy_model(
    "stages",
    lambda model, run_dir: (
        None
        if run_dir is None or getattr(model.config, "modality", "image") != "audio"
        else StageEntropyModel.load(
            run_dir, model.quantizer.num_stages, model.quantizer.codebook_size
        )
    ),
    priority=15,
    how_to_make="run `vqvae fit-entropy {run_dir}` first",
)
register_entropy_model(
    "static",
    lambda model, run_dir: (
        None if run_dir is None else StaticEntropyModel.load(run_dir, model.quantizer.codebook_size)
    ),
    priority=10,
    how_to_make="run `vqvae fit-entropy {run_dir}` first",
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
    probs = np.divide(freqs, float(TOTAL), dtype=np.float64)  # C-contiguous, one array
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
    """Range-code a (H', W') map in ``model``'s coding order with its tables.

    Chunk by chunk into one range coder (the same bytes as one call): a table the model
    shares between positions (the static model's) stays one row, never (N, K) in memory.
    """
    indices = indices.detach().cpu().long()
    flat = indices.flatten().numpy()
    encoder = constriction.stream.queue.RangeEncoder()
    for i, (order, freqs) in enumerate(table_chunks(model, indices)):
        _encode_block(encoder, flat[order], freqs)
        if i % RELEASE_EVERY == RELEASE_EVERY - 1:
            memory.release()
    return encoder.get_compressed().astype("<u4").tobytes()


RELEASE_EVERY = 8
"""Chunks of tables between two ``memory.release()`` calls while coding a large map."""


# How short a payload can be. constriction's range coder keeps a 64-bit range, starting at
# 2**64 - 1; each symbol multiplies it by (at most) the symbol's probability and each 32-bit
# word written multiplies it by 2**32, and it never falls below 2**32; sealing writes at least
# one more word. So a stream of N >= 1 symbols of probabilities p_i has at least
# sum(-log2 p_i) / 32 words: the payload is never shorter than the information it holds.
# p_i are constriction's 24-bit quantization of our 16-bit tables (``perfect=False``: each
# probability moves by at most 2 / 2**24 = 1/128 of one of our units); _QUANTIZATION_SLACK
# covers that with a margin, so the bound holds for every stream ``encode`` writes.
_QUANTIZATION_SLACK = 1 / 32


def _symbol_bits(freqs) -> np.ndarray:
    """Lower bounds on the bits a symbol of table frequency ``freqs`` adds to the payload."""
    p = np.minimum((np.asarray(freqs, dtype=np.float64) + _QUANTIZATION_SLACK) / TOTAL, 1.0)
    return -np.log2(p)


def min_payload_bits(freqs) -> float:
    """A lower bound on the payload bits of symbols with these table frequencies (any shape)."""
    return float(_symbol_bits(freqs).sum())


def _check_payload_holds(bits: float, words: int, shape: tuple[int, int]) -> None:
    if bits > 32 * words + 1:  # + 1: float rounding of the sum
        raise CodingError(
            f"the payload ({4 * words} bytes) is too short to hold a {shape[0]}x{shape[1]} code "
            f"map (it needs at least {math.ceil(bits / 8)} bytes); it is truncated or forged"
        )


def decode(payload: bytes, shape: tuple[int, int], model: EntropyModel) -> torch.Tensor:
    """Inverse of ``encode``: (H', W') int64, asking ``model`` block by block.

    A payload too short to hold the map (a truncated or forged file, which the range decoder
    would read past its end as zeros) is refused: before anything of the map's size is
    allocated when no table could make it fit (every table gives each symbol a probability
    of at most ``1 - (K - 1) / 2**PRECISION``), else as soon as the symbols decoded so far
    carry more information than the payload (``min_payload_bits``).

    Raises:
        CodingError: the payload is not a whole number of 32-bit words, is too short for
            the map, or has data left over after the last symbol.
    """
    if len(payload) % 4:
        raise CodingError("payload is not a whole number of 32-bit words")
    shape = (int(shape[0]), int(shape[1]))
    n, num_words = shape[0] * shape[1], len(payload) // 4
    if n and not num_words:
        raise CodingError(f"empty payload for a {shape[0]}x{shape[1]} code map")
    most_probable = TOTAL - (model.num_symbols - 1)
    _check_payload_holds(n * min_payload_bits(most_probable), num_words, shape)
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    flat = torch.zeros(n, dtype=torch.int64)
    bits = 0.0
    waves = _waves(model, shape)
    with Progress(sum(len(w) for w in waves), "decoding", "chunk") as progress:
        for wave in waves:  # a wave's tables read only earlier waves: computed ahead, in threads
            tables = ordered_map(
                lambda piece: block_tables(model, flat.view(shape), piece),
                wave,
                coding_workers(model),
            )
            for piece, freqs in zip(wave, tables, strict=True):
                bits += _decode_piece(decoder, piece, freqs, flat, model.num_symbols)
                _check_payload_holds(bits, num_words, shape)
                progress.update()
                if progress.n % RELEASE_EVERY == 0:
                    memory.release()
    if not decoder.maybe_exhausted():
        raise CodingError("payload has data left over after the last code")
    return flat.view(shape)


def _decode_piece(decoder, piece: np.ndarray, freqs: np.ndarray, flat, num_symbols: int) -> float:
    """Range-decode the codes of ``piece`` into ``flat``; returns their least payload bits."""
    symbols = _decode_block(decoder, freqs).astype(np.int64)
    flat[torch.from_numpy(piece)] = torch.from_numpy(symbols)
    if _shared(freqs):  # one table: count, don't gather
        counts = np.bincount(symbols, minlength=num_symbols)
        return float(counts @ _symbol_bits(freqs[0]))
    return min_payload_bits(freqs[np.arange(len(piece)), symbols])


def _waves(model: EntropyModel, shape: tuple[int, int]) -> list[list[np.ndarray]]:
    """The decoder's pieces of the schedule (``pieces``), in waves: the pieces of one block,
    or of consecutive blocks of one level (``model.block_levels(shape)``, optional: a
    block's tables read only blocks of lower levels), need only earlier waves."""
    blocks = coding_blocks(model, shape)
    levels_of = getattr(model, "block_levels", None)
    levels = list(levels_of(shape)) if levels_of is not None else list(range(len(blocks)))
    size = chunk_positions(model.num_symbols)
    waves: list[list[np.ndarray]] = []
    for i, (level, block) in enumerate(zip(levels, blocks, strict=True)):
        if i and level == levels[i - 1]:
            waves[-1] += pieces([block], size, join=False)
        else:
            waves.append(pieces([block], size, join=False))
    return waves


def information_bits(indices: torch.Tensor, model: EntropyModel) -> float:
    """Sum of -log2 p(code) under the model's integer tables: the ideal payload size in bits."""
    indices = indices.detach().cpu().long()
    flat, bits = indices.flatten().numpy(), 0.0
    for order, freqs in table_chunks(model, indices):
        picked = freqs[np.arange(len(freqs)), flat[order]]
        bits += float(np.sum(PRECISION - np.log2(picked)))
    return bits


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

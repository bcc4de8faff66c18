"""Probability models over code maps and the range coder that turns them into bytes.

The one contract between the codec and any probability model (the static code distribution
here, the autoregressive prior of ``vqvae.priors`` later)::

    indices (H', W') int64 --raster order--> positions 0 .. N-1  (N = H' * W')
    blocks = model.schedule((H', W'))        # the coding order: arrays of raster positions
    encoder:  freqs = model.frequencies(indices, concat(blocks))   # teacher forcing
    decoder:  for block in blocks:
                  freqs = model.frequencies(partial, block)    # partial: earlier blocks
                  partial[block] = decode(freqs)                # decoded, zeros elsewhere

``frequencies`` returns an integer table (len(positions), K): each row sums to
``2 ** PRECISION`` and every entry is >= 1, so any symbol stays codable however wrong the
model is. A position's row may depend only on the positions of earlier blocks, and it must be
bit-identical whatever positions the caller asks for with it and whatever the map holds outside
the earlier blocks: that is what lets the encoder ask for everything at once and the decoder
block by block. Models that compute float probabilities turn them into tables with
``quantize_pmf`` (fp64 on CPU), the one function both sides share; ``ProbabilityModel`` wires
that up, so a subclass only writes ``probabilities``. ``check_consistency`` tests the contract
on a given map.

Each model has a ``name`` (stored in the file header and used to find the model again on
decode, never an enumeration order) and a ``fingerprint`` (8 bytes over whatever determines
its tables, checked on decode).
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import constriction
import numpy as np
import torch

PRECISION = 16
"""Frequency tables sum to ``2 ** PRECISION``; the smallest probability is ``2 ** -PRECISION``."""

TOTAL = 1 << PRECISION
MAX_SYMBOLS = TOTAL // 2  # leaves at least half of the mass to the model's own probabilities


class CodingError(ValueError):
    """The range decoder found a payload that the model's tables cannot have produced."""


# ---- the shared quantizer: float probabilities -> integer frequency tables ----------------------


def quantize_pmf(probs: np.ndarray | torch.Tensor) -> np.ndarray:
    """Turn probabilities into integer frequency tables, the same way on encoder and decoder.

    Each row is normalised in float64, scaled to ``2**PRECISION - K`` and floored, then given
    +1 per symbol (the floor that keeps every symbol codable); the few units lost to flooring
    go to the row's most probable symbol (the lowest index on ties). Pure numpy fp64 on CPU:
    the same input bits give the same table on every machine and thread count.

    Args:
        probs: (..., K) non-negative finite weights (need not sum to one); a row of zeros
            becomes uniform.

    Returns:
        int64 (..., K) tables, each row summing to ``2**PRECISION`` with every entry >= 1.
    """
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().to("cpu", torch.float64).numpy()
    p = np.asarray(probs, dtype=np.float64)
    k = p.shape[-1]
    if not 2 <= k <= MAX_SYMBOLS:
        raise ValueError(f"alphabet size must be in [2, {MAX_SYMBOLS}], got {k}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative")
    total = p.sum(axis=-1, keepdims=True)
    p = np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / k)
    freqs = np.floor(p * float(TOTAL - k)).astype(np.int64) + 1
    short = TOTAL - freqs.sum(axis=-1)  # in [0, K]
    top = np.argmax(freqs, axis=-1)[..., None]
    np.put_along_axis(freqs, top, np.take_along_axis(freqs, top, -1) + short[..., None], -1)
    return freqs


def check_tables(freqs: np.ndarray, n: int, k: int) -> np.ndarray:
    """Validate a model's output: (n, K) integers, rows summing to 2**PRECISION, entries >= 1."""
    freqs = np.asarray(freqs)
    if freqs.shape != (n, k) or not np.issubdtype(freqs.dtype, np.integer):
        raise ValueError(
            f"frequency tables must be integer ({n}, {k}), got {freqs.dtype} {freqs.shape}"
        )
    rows = freqs[:1] if _shared(freqs) else freqs
    if n and (rows.min() < 1 or np.any(rows.sum(axis=1) != TOTAL)):
        raise ValueError(f"frequency rows must be >= 1 and sum to 2**{PRECISION}")
    return freqs


def _shared(freqs: np.ndarray) -> bool:
    """One table broadcast over all rows (stride 0), as the static model returns."""
    return freqs.ndim == 2 and freqs.shape[0] > 1 and freqs.strides[0] == 0


def fingerprint_bytes(*parts: bytes) -> bytes:
    """8-byte sha256 prefix over ``parts`` (each length-prefixed, so boundaries count)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()[:8]


# ---- the model interface -----------------------------------------------------------------------


def raster_schedule(shape: tuple[int, int], block: int | None = None) -> list[np.ndarray]:
    """Raster order in blocks of ``block`` consecutive positions (None: one block of all)."""
    n = int(shape[0]) * int(shape[1])
    order = np.arange(n, dtype=np.int64)
    if block is None or block >= n:
        return [order]
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    return [order[i : i + block] for i in range(0, n, block)]


@runtime_checkable
class EntropyModel(Protocol):
    """What the codec needs from a probability model over code maps (see the module docstring).

    Attributes:
        name: short ASCII name stored in the file header (<= 32 bytes), e.g. ``"static"``.
        num_symbols: alphabet size K (the VQ-VAE's codebook size).
    """

    name: str
    num_symbols: int

    def fingerprint(self) -> bytes:
        """8 bytes identifying everything that determines the tables (checked on decode)."""
        ...

    def schedule(self, shape: tuple[int, int]) -> list[np.ndarray]:
        """The coding order of an (H', W') map: blocks of raster positions (int64 arrays that
        together hold every position once); the decoder decodes one block at a time."""
        ...

    def frequencies(self, indices: torch.Tensor, positions: np.ndarray) -> np.ndarray:
        """Integer tables (len(positions), K) for raster ``positions`` of ``indices``.

        Args:
            indices: (H', W') int64 code map on CPU; a position's table may read only the
                positions of the blocks before its own.
            positions: int64 raster positions, each in [0, H' * W').

        Returns:
            int64 (len(positions), K), rows summing to ``2**PRECISION``, entries >= 1.
        """
        ...


class ProbabilityModel(ABC):
    """Base class for models that compute float probabilities: the codec-side quantization.

    Subclasses set ``name`` and ``num_symbols`` and implement ``probabilities`` (and
    ``fingerprint``, ``schedule``); ``frequencies`` runs ``quantize_pmf`` on the result, so
    encoder and decoder share one conversion. Compute the probabilities in fp32/fp64 on CPU
    with deterministic kernels, with tensors of the same shape on both sides.
    """

    name: str
    num_symbols: int

    @abstractmethod
    def fingerprint(self) -> bytes: ...

    @abstractmethod
    def schedule(self, shape: tuple[int, int]) -> list[np.ndarray]: ...

    @abstractmethod
    def probabilities(self, indices: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
        """(len(positions), K) float probabilities, under the same rules as ``frequencies``."""

    def frequencies(self, indices: torch.Tensor, positions: np.ndarray) -> np.ndarray:
        return quantize_pmf(self.probabilities(indices, positions))


class StaticEntropyModel:
    """One code distribution for every position: counts of each code over a training set.

    Args:
        counts: (K,) non-negative code counts (e.g. from ``fit_counts``); the tables add
            the per-symbol floor of ``quantize_pmf``, so unseen codes stay codable.
    """

    name = "static"
    FILE = "entropy.json"

    def __init__(self, counts: Sequence[int] | np.ndarray) -> None:
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 1:
            raise ValueError(f"counts must be 1-D, got shape {counts.shape}")
        self.counts = counts
        self.num_symbols = len(counts)
        self.table = quantize_pmf(counts)  # (K,) int64, computed once, shared by both sides

    def fingerprint(self) -> bytes:
        return fingerprint_bytes(self.name.encode(), self.table.astype("<i8").tobytes())

    def schedule(self, shape: tuple[int, int]) -> list[np.ndarray]:
        return raster_schedule(shape)  # positions are independent: decode all at once

    def frequencies(self, indices: torch.Tensor, positions: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.table, (len(positions), self.num_symbols))

    def save(self, run_dir: str | Path, extra: dict | None = None) -> None:
        from ..checkpoint import write_json

        obj = {"format_version": 1, "kind": self.name, "counts": [int(c) for c in self.counts]}
        obj.update(extra or {})
        write_json(Path(run_dir) / self.FILE, obj)

    @classmethod
    def load(cls, run_dir: str | Path, num_symbols: int | None = None) -> StaticEntropyModel | None:
        """The run dir's fitted distribution, or None if it has none.

        Args:
            run_dir: the run directory.
            num_symbols: the codebook size the counts must have (None: any).

        Raises:
            CheckpointError: not a list of integer counts in [0, 2**53], or not
                ``num_symbols`` of them.
        """
        from ..checkpoint import read_json
        from ..errors import CheckpointError

        path = Path(run_dir) / cls.FILE
        if not path.is_file():
            return None
        obj = read_json(path)
        counts = obj.get("counts")
        if obj.get("kind") != cls.name or not isinstance(counts, list) or len(counts) < 2:
            raise CheckpointError(f"{path}: not a static code distribution")
        if num_symbols is not None and len(counts) != num_symbols:
            raise CheckpointError(
                f"{path}: {len(counts)} counts for a codebook of {num_symbols} codes"
            )
        if len(counts) > MAX_SYMBOLS:
            raise CheckpointError(f"{path}: {len(counts)} counts, more than {MAX_SYMBOLS} codes")
        bad = next(
            (
                c
                for c in counts
                if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 1 << 53
            ),
            None,
        )
        if bad is not None:
            raise CheckpointError(f"{path}: counts must be integers in [0, 2**53], got {bad!r}")
        try:
            return cls(np.asarray(counts, dtype=np.int64))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: bad counts ({exc})") from None


class UniformEntropyModel(StaticEntropyModel):
    """Every code equally likely (log2 K bits each): the fallback when nothing was fitted."""

    name = "uniform"

    def __init__(self, num_symbols: int) -> None:
        super().__init__(np.ones(num_symbols))


@torch.no_grad()
def fit_counts(model, batches: Iterable[torch.Tensor]) -> np.ndarray:
    """Count the codes a VQ-VAE gives ``batches`` of float (B, C, H, W) images in [0, 1].

    Returns:
        int64 (K,) counts over all code positions of all batches.
    """
    k = model.quantizer.codebook_size
    counts = torch.zeros(k, dtype=torch.int64)
    device = next(model.parameters()).device
    for x in batches:
        indices = model.encode(x.to(device)).cpu()
        counts += torch.bincount(indices.flatten(), minlength=k)
    return counts.numpy()


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


register_entropy_model(
    "static",
    lambda model, run_dir: (
        None if run_dir is None else StaticEntropyModel.load(run_dir, model.quantizer.codebook_size)
    ),
    priority=10,
)
register_entropy_model(
    "uniform", lambda model, run_dir: UniformEntropyModel(model.quantizer.codebook_size)
)


# ---- coding --------------------------------------------------------------------------------------


ENCODE_CHUNK = 1 << 16
"""The encoder asks for the tables of whole blocks, at most about this many positions a call."""


def coding_blocks(model: EntropyModel, shape: tuple[int, int]) -> list[np.ndarray]:
    """``model.schedule(shape)`` as int64 arrays, checked to hold every position exactly once
    (empty blocks dropped)."""
    n = int(shape[0]) * int(shape[1])
    blocks = [np.asarray(b, dtype=np.int64).reshape(-1) for b in model.schedule(shape)]
    order = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int64)
    if len(order) != n or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"{model.name}: schedule does not cover the {n} positions exactly once")
    return [b for b in blocks if len(b)]


def block_tables(model: EntropyModel, indices: torch.Tensor, positions: np.ndarray) -> np.ndarray:
    """``model.frequencies(indices, positions)``, checked (shape, sums, floor)."""
    return check_tables(model.frequencies(indices, positions), len(positions), model.num_symbols)


def table_chunks(
    model: EntropyModel, indices: torch.Tensor
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Encoder side (teacher forcing): (positions, tables) in coding order, asked for in whole
    blocks of about ``ENCODE_CHUNK`` positions a call (one call for most maps)."""
    chunk, size = [], 0
    for block in coding_blocks(model, tuple(indices.shape)):
        chunk.append(block)
        size += len(block)
        if size >= ENCODE_CHUNK:
            order = np.concatenate(chunk)
            yield order, block_tables(model, indices, order)
            chunk, size = [], 0
    if chunk:
        order = np.concatenate(chunk)
        yield order, block_tables(model, indices, order)


def tables_for(model: EntropyModel, indices: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The coding order (N,) and its tables (N, K), all at once (``table_chunks`` joined)."""
    chunks = list(table_chunks(model, indices))
    if not chunks:
        return np.zeros(0, dtype=np.int64), np.zeros((0, model.num_symbols), dtype=np.int64)
    return np.concatenate([o for o, _ in chunks]), np.concatenate([t for _, t in chunks])


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
    """Range-code a (H', W') map in ``model``'s coding order with its tables.

    Chunk by chunk into one range coder (the same bytes as one call): a table the model
    shares between positions (the static model's) stays one row, never (N, K) in memory.
    """
    indices = indices.detach().cpu().long()
    flat = indices.flatten().numpy()
    encoder = constriction.stream.queue.RangeEncoder()
    for order, freqs in table_chunks(model, indices):
        _encode_block(encoder, flat[order], freqs)
    return encoder.get_compressed().astype("<u4").tobytes()


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
    for block in coding_blocks(model, shape):
        freqs = block_tables(model, flat.view(shape), block)
        symbols = _decode_block(decoder, freqs).astype(np.int64)
        if _shared(freqs):
            counts = np.bincount(symbols, minlength=model.num_symbols)
            bits += float(counts @ _symbol_bits(freqs[0]))  # one table: count, don't gather
        else:
            bits += min_payload_bits(freqs[np.arange(len(block)), symbols])
        _check_payload_holds(bits, num_words, shape)
        flat[torch.from_numpy(block)] = torch.from_numpy(symbols)
    if not decoder.maybe_exhausted():
        raise CodingError("payload has data left over after the last code")
    return flat.view(shape)


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

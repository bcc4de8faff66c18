"""Probability models over code maps: the interface, integer frequency tables, static models.

The one contract between the range coder (``vqvae.codec``) and any probability model (the
static code distribution here, the autoregressive prior of ``vqvae.priors``)::

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
that up, so a subclass only writes ``probabilities``.

Each model has a ``name`` (stored in the file header and used to find the model again on
decode, never an enumeration order) and a ``fingerprint`` (8 bytes over whatever determines
its tables, checked on decode).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ..checkpoint import read_json, remove_stale_temp_files, write_json
from ..errors import CheckpointError
from ..progress import track

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
    the same input bits give the same table on every machine and thread count. Rows are
    converted ``QUANTIZE_ROWS`` at a time, in place, so a large block needs no temporaries of
    its own size (each row's result does not depend on the others).

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
    rows = p.reshape(-1, k)
    freqs = np.empty(rows.shape, dtype=np.int64)
    step = max(1, QUANTIZE_ROWS * 512 // k)
    for start in range(0, len(rows), step):
        _quantize_rows(rows[start : start + step], freqs[start : start + step])
    return freqs.reshape(p.shape)


QUANTIZE_ROWS = 4096
"""Rows of 512 symbols that ``quantize_pmf`` converts at once (fewer for larger alphabets)."""


def _quantize_rows(p: np.ndarray, out: np.ndarray) -> None:
    """``quantize_pmf`` of the (n, K) rows ``p`` into ``out``, with one float64 temporary."""
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative")
    k = p.shape[-1]
    total = p.sum(axis=-1, keepdims=True)
    scaled = np.divide(p, np.where(total > 0, total, 1.0))  # the one temporary
    if not np.all(total > 0):
        scaled[(total <= 0)[:, 0]] = 1.0 / k
    np.multiply(scaled, float(TOTAL - k), out=scaled)
    np.floor(scaled, out=scaled)
    out[...] = scaled
    out += 1
    short = TOTAL - out.sum(axis=-1)  # in [0, K]
    top = np.argmax(out, axis=-1)
    out[np.arange(len(out)), top] += short


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


def network_fingerprint(name: str, coding_path: bytes, config: dict, module) -> bytes:
    """``fingerprint_bytes`` of a network-based model: its name, the name of the code path
    that computes its tables, its config as JSON (sorted keys), then for every state-dict
    tensor in key order ``"{key}|{dtype}|{shape}"`` and its raw bytes."""
    parts = [name.encode(), coding_path, json.dumps(config, sort_keys=True).encode()]
    for key, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        parts.append(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
        parts.append(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return fingerprint_bytes(*parts)


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
        obj = {"format_version": 1, "kind": self.name, "counts": [int(c) for c in self.counts]}
        obj.update(extra or {})
        remove_stale_temp_files(run_dir, (self.FILE,))  # a killed fit-entropy's
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


ENCODE_CHUNK = 1 << 16
"""The coder asks for the tables of at most this many positions a call."""

TABLE_ELEMENTS = 1 << 21
"""...and of at most this many table entries (positions x K): 16 MB of int64 tables, so
the tables of a large map are never in memory at once, whatever its size."""


def chunk_positions(num_symbols: int) -> int:
    """Positions the coder asks tables for at once, for an alphabet of ``num_symbols``."""
    return max(1, min(ENCODE_CHUNK, TABLE_ELEMENTS // max(1, num_symbols)))


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


def pieces(blocks: Sequence[np.ndarray], size: int, join: bool = True) -> list[np.ndarray]:
    """The positions of ``blocks``, in order, in pieces of at most ``size``: large blocks
    split, consecutive small ones joined (``join``). The contract makes a position's table
    the same whatever is asked with it, so any such cut gives the same tables."""
    out: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    count = 0
    for block in blocks:
        for start in range(0, len(block), size):
            part = block[start : start + size]
            if pending and (count + len(part) > size or not join):
                out.append(pending[0] if len(pending) == 1 else np.concatenate(pending))
                pending, count = [], 0
            pending.append(part)
            count += len(part)
    if pending:
        out.append(pending[0] if len(pending) == 1 else np.concatenate(pending))
    return out


def coding_workers(model: EntropyModel) -> int:
    """Threads that compute tables at once: torch's intra-op thread count for a model that
    declares ``concurrent = True`` (its ``frequencies`` may run in several threads at once,
    each with one intra-op thread, with the same results), else 1."""
    return max(1, torch.get_num_threads()) if getattr(model, "concurrent", False) else 1


def ordered_map(fn: Callable, items: Sequence, workers: int, ahead: int | None = None) -> Iterator:
    """``map(fn, items)`` on ``workers`` threads, results in order, at most ``ahead`` (default
    ``workers``) computed and not yet taken: bounded memory whatever ``len(items)``.
    Each worker thread runs torch with one intra-op thread."""
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    ahead = ahead or workers

    def one_thread(item):
        torch.set_num_threads(1)  # per thread: torch keeps the count in thread-local state
        return fn(item)

    threads = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="vqvae-tables") as pool:
            queue: deque[Future] = deque()
            try:
                for item in items:
                    queue.append(pool.submit(one_thread, item))
                    if len(queue) > ahead:
                        yield queue.popleft().result()
                while queue:
                    yield queue.popleft().result()
            finally:
                for future in queue:
                    future.cancel()
    finally:
        torch.set_num_threads(threads)  # the process-wide default the workers' calls set


def table_chunks(
    model: EntropyModel, indices: torch.Tensor
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Encoder side (teacher forcing): (positions, tables) in coding order, asked for in
    pieces of at most ``chunk_positions(K)`` positions (consecutive small blocks joined),
    on ``coding_workers(model)`` threads."""
    blocks = coding_blocks(model, tuple(indices.shape))
    chunks = pieces(blocks, chunk_positions(model.num_symbols))
    workers = coding_workers(model)
    tables = ordered_map(lambda order: block_tables(model, indices, order), chunks, workers)
    progress = track(tables, total=len(chunks), desc="entropy coding", unit="chunk")
    yield from zip(chunks, progress, strict=True)


def tables_for(model: EntropyModel, indices: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The coding order (N,) and its tables (N, K), all at once (``table_chunks`` joined)."""
    chunks = list(table_chunks(model, indices))
    if not chunks:
        return np.zeros(0, dtype=np.int64), np.zeros((0, model.num_symbols), dtype=np.int64)
    return np.concatenate([o for o, _ in chunks]), np.concatenate([t for _, t in chunks])

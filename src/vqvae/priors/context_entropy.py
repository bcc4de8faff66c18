"""The context model as the codec's probability model (``--entropy-model context``).

Coding order: the groups of ``vqvae.priors.context`` one after another, each group's positions
in raster order. A group's tables come from a pass of the network over the map with the codes
of the earlier groups known and the rest masked, fp32 on CPU with one intra-op thread, softmax
in float64 -> ``quantize_pmf``. Encoder and decoder feed the same masked input of the same
shape, so both build bit-identical tables (``codec.check_consistency`` tests this).

A large map is passed in bands of whole rows (``ContextEntropyModel.bands``): each band's
rows with ``halo`` rows of the map above and below, enough for the network's receptive field,
so every table is the one the whole map gives, and memory is that of one band whatever the
map's size. A map of one band is passed whole. Each (group, band) is one block of the
schedule (the same order of positions as one block per group), and the blocks of one group
need only earlier groups (``block_levels``): their tables are computed in several threads.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from ..entropy.tables import ProbabilityModel, chunk_positions, network_fingerprint
from .context import ContextModel, group_map, has_context, load_context

CODING_THREADS = 1
CODING_PATH = b"context-groups-v1"
"""Names how the tables are computed; part of the fingerprint."""
BAND_CHUNKS = 4
"""A group's positions in one band: this many of the coder's chunks of tables
(``entropy.tables.chunk_positions``), so that the halo is a small part of a band."""
BAND_VALUES = 1 << 22
"""...and at most this many values (positions x channels) in one activation of the
network over a band's own rows: 16 MB."""
CACHED_BANDS = 3
"""Band logits kept between calls (the tables of a band are asked for in pieces)."""


class ContextEntropyModel(ProbabilityModel):
    """Per-position code distributions p(code | codes of earlier groups).

    Args:
        model: the trained ``ContextModel`` (moved to CPU, eval mode).
    """

    name = "context"
    concurrent = True  # ``frequencies`` may run in several threads at once

    def __init__(self, model: ContextModel) -> None:
        self.model = model.cpu().eval()
        self.num_symbols = model.config.codebook_size
        self._fingerprint: bytes | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, _Slot] = OrderedDict()
        self._layout: tuple[tuple[int, int], _Layout] | None = None

    @classmethod
    def from_run_dir(cls, run_dir: str | Path | None) -> ContextEntropyModel | None:
        """The run dir's context model, or None if it has none."""
        if run_dir is None or not has_context(run_dir):
            return None
        return cls(load_context(run_dir))

    def fingerprint(self) -> bytes:
        if self._fingerprint is None:  # derived lazily, never refreshed by hand
            self._fingerprint = network_fingerprint(
                self.name, CODING_PATH, self.model.config.to_dict(), self.model
            )
        return self._fingerprint

    @property
    def halo(self) -> int:
        """Rows a band is passed with above and below its own: the network's reach (one row
        per 3x3 convolution) rounded up to a multiple of ``2**levels``, so that a band starts
        on a row of the map's group pattern."""
        step = 2**self.model.config.levels
        return math.ceil((1 + self.model.config.layers) / step) * step

    def bands(self, shape: tuple[int, int]) -> list[tuple[int, int]]:
        """Rows ``[top, bottom)`` of the bands of an (H', W') map: whole rows, a multiple of
        ``2**levels`` of them, so many that a group's positions in one band are at most
        ``BAND_CHUNKS`` of the coder's chunks of tables and an activation of the network
        holds at most ``BAND_VALUES``; one band when the map fits."""
        height, width = int(shape[0]), int(shape[1])
        step = 2**self.model.config.levels
        # a group holds at most ceil(rows / 2) * ceil(width / 2) of a band's positions
        codes = BAND_CHUNKS * chunk_positions(self.num_symbols)
        rows = codes * 2 // max(1, math.ceil(width / 2))
        rows = min(rows, BAND_VALUES // max(1, width * self.model.config.channels))
        rows = max(step, rows // step * step)
        if height <= rows:
            return [(0, height)]
        return [(top, min(top + rows, height)) for top in range(0, height, rows)]

    def schedule(self, shape: tuple[int, int]) -> list[np.ndarray]:
        return [block for _, _, block in self._layout_of(shape).blocks]

    def block_levels(self, shape: tuple[int, int]) -> list[int]:
        """The group of each block: a block's tables read only the codes of earlier groups."""
        return [group for group, _, _ in self._layout_of(shape).blocks]

    @torch.no_grad()
    def probabilities(self, indices: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
        """(len(positions), K) float64 probabilities of raster ``positions``, each from the
        codes of the groups before its own."""
        indices = indices.detach().cpu().long()
        if indices.dim() != 2:
            raise ValueError(f"expected a code map (h, w), got {tuple(indices.shape)}")
        shape = (int(indices.shape[0]), int(indices.shape[1]))
        layout = self._layout_of(shape)
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        groups = layout.groups[positions].astype(np.int64)
        band_of = np.searchsorted(layout.tops, positions // shape[1], side="right") - 1
        unit = groups * len(layout.tops) + band_of  # (group, band) of each position
        units = np.unique(unit).tolist()
        out = None
        for u in units:
            sel = np.flatnonzero(unit == u)
            g, band = divmod(u, len(layout.tops))
            logits = self._band_logits(indices, layout, g, band)
            local = torch.from_numpy(
                layout.rank[positions[sel]].astype(np.int64) - layout.first[g][band]
            )
            probs = torch.softmax(logits[local].double(), dim=-1)
            if len(units) == 1:
                return probs
            if out is None:
                out = torch.empty(len(positions), self.num_symbols, dtype=torch.float64)
            out[torch.from_numpy(sel)] = probs
        return out if out is not None else torch.empty(0, self.num_symbols, dtype=torch.float64)

    def _layout_of(self, shape: tuple[int, int]) -> _Layout:
        cached = self._layout
        if cached is None or cached[0] != shape:
            cached = (shape, _Layout(shape, self.model.config, self.bands(shape)))
            self._layout = cached
        return cached[1]

    def _band_logits(
        self, indices: torch.Tensor, layout: _Layout, g: int, band: int, wait: bool = True
    ):
        """(n, K) fp32 logits of group ``g``'s n positions in ``band``'s rows (raster order),
        from one pass over the band and its halo; reused while the input is the same (e.g.
        group 0 of every inner band, where nothing is known), and computed once when several
        threads ask at the same time: a thread that finds the band under way computes the
        next one meanwhile. ``wait=False``: compute it unless it is there or under way."""
        height, width = indices.shape
        top, bottom = layout.bands[band]
        lo, hi = max(0, top - self.halo), min(height, bottom + self.halo)
        sub = indices[lo:hi]
        sub_groups = torch.from_numpy(layout.groups[lo * width : hi * width].astype(np.int64))
        known = sub.reshape(-1)[sub_groups < g].numpy().tobytes()
        key = (g, hi - lo, top - lo, bottom - top, width, known)
        with self._lock:
            slot = self._cache.get(key)
            owner = slot is None
            if owner:
                slot = self._cache[key] = _Slot()
                while len(self._cache) > CACHED_BANDS:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        if not owner:
            if not wait:
                return None
            if not slot.ready and band + 1 < len(layout.bands):
                self._band_logits(indices, layout, g, band + 1, wait=False)
            return slot.wait()
        threads = torch.get_num_threads()
        torch.set_num_threads(CODING_THREADS)
        try:
            logits = self.model(sub.unsqueeze(0), g)[0].float()
            members = sub_groups.reshape(hi - lo, width) == g
            before = int(members[: top - lo].sum())  # the halo's positions above the band
            logits = logits[before : before + int(members[top - lo : bottom - lo].sum())]
            if lo != top or hi != bottom:
                logits = logits.clone()  # drop the halo's logits
            slot.set(logits)
        except BaseException as exc:
            slot.set(None, exc)
            with self._lock:
                self._cache.pop(key, None)
            raise
        finally:
            torch.set_num_threads(threads)
        return logits


class _Slot:
    """A band's logits, or the error computing them, once one thread has them."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value = None
        self._error: BaseException | None = None

    def set(self, value, error: BaseException | None = None) -> None:
        self._value, self._error = value, error
        self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    def wait(self):
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class _Layout:
    """The positions of a map by group and band: the schedule and the lookups of
    ``probabilities`` (group of each position, its rank in its group's raster order, and the
    rank of each (group, band)'s first position)."""

    def __init__(self, shape: tuple[int, int], config, bands: list[tuple[int, int]]) -> None:
        height, width = shape
        self.bands = bands
        self.tops = np.array([top for top, _ in bands], dtype=np.int64)
        groups = group_map(height, width, config.levels).view(-1).numpy()
        self.groups = groups.astype(np.int8)
        self.rank = np.empty(height * width, dtype=np.int32)  # maps of < 2**28 codes
        self.first: list[list[int]] = []
        self.blocks: list[tuple[int, int, np.ndarray]] = []
        for g in range(config.num_groups):
            members = np.flatnonzero(groups == g)
            self.rank[members] = np.arange(len(members), dtype=np.int32)
            cuts = np.searchsorted(members // max(1, width), self.tops)
            self.first.append(cuts.tolist())
            for band, part in enumerate(np.split(members, cuts[1:])):
                if len(part):
                    self.blocks.append((g, band, part))

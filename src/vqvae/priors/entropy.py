"""The prior as the codec's probability model (``--entropy-model prior``).

Encoder and decoder must build bit-identical integer tables, so there is exactly one code path
(``PriorEntropyModel.probabilities``) and it is deterministic::

    map (H', W') -> tiles of the prior's size (h, w) (the last row / column of tiles may be
      smaller); the tiles of one shape form a group, groups in order of their first tile
    coding order: group by group; within a group, tile position q = 0 .. h*w-1, each q one
      block holding position q of every tile of the group (decoded together)
    tables: the prior over the group's tiles in fixed chunks of 256, one token per step with a
      key/value cache, "no label" start token, fp32 on CPU, one intra-op thread
      -> step q's logits -> softmax in float64 -> codec.quantize_pmf

Encoder and decoder take the same steps, of the same shapes, in the same order, and step q
reads only the codes before q of each tile, so both build bit-identical tables
(``codec.check_consistency`` tests this on real maps). The decoder runs h*w steps per group,
whatever the number of tiles; steps already taken for the same earlier codes are reused
between calls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..entropy.tables import ProbabilityModel, network_fingerprint
from .io import has_prior, load_prior
from .transformer import TransformerPrior

CODING_THREADS = 1
CODING_PATH = b"tiles-kv-cache-v2"
"""Names how the tables are computed; part of the fingerprint, so files coded another way
are refused rather than misdecoded."""
TILE_CHUNK = 256
"""Tiles per pass: bounds the memory of a pass on large maps; fixed, so both sides agree."""


class PriorEntropyModel(ProbabilityModel):
    """Per-position code distributions p(code_p | codes before p) from a ``TransformerPrior``.

    Args:
        prior: the trained prior (moved to CPU and put in eval mode).
    """

    name = "prior"

    def __init__(self, prior: TransformerPrior) -> None:
        self.prior = prior.cpu().eval()
        self.num_symbols = prior.config.codebook_size
        self._fingerprint: bytes | None = None
        self._steps: dict[tuple, _Steps] = {}
        self._steps_shape: tuple[int, int] | None = None

    @classmethod
    def from_run_dir(cls, run_dir: str | Path | None) -> PriorEntropyModel | None:
        """The run dir's prior as a probability model, or None if it has none."""
        if run_dir is None or not has_prior(run_dir):
            return None
        return cls(load_prior(run_dir))

    def fingerprint(self) -> bytes:
        if self._fingerprint is None:  # derived lazily, never refreshed by hand
            self._fingerprint = network_fingerprint(
                self.name, CODING_PATH, self.prior.config.to_dict(), self.prior
            )
        return self._fingerprint

    def schedule(self, shape: tuple[int, int]) -> list[np.ndarray]:
        width = int(shape[1])
        blocks = []
        for (h, w), origins in _tile_groups(shape, self._tile_size).items():
            rows, cols = (np.array(axis, dtype=np.int64) for axis in zip(*origins, strict=True))
            for q in range(h * w):
                r, c = divmod(q, w)
                blocks.append((rows + r) * width + cols + c)
        return blocks

    @torch.no_grad()
    def probabilities(self, indices: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
        """(len(positions), K) float64 probabilities of raster ``positions``.

        Each tile is conditioned only on its own earlier codes, which come in earlier blocks of
        the coding order (``schedule``), so the decoder has them. The steps always cover a
        whole chunk of a group's tiles, whichever of their positions are asked for.
        """
        indices = indices.detach().cpu().long()
        if indices.dim() != 2:
            raise ValueError(f"expected a code map (h, w), got {tuple(indices.shape)}")
        shape = (int(indices.shape[0]), int(indices.shape[1]))
        if self._steps_shape != shape:  # keep the steps of one map only
            self._steps, self._steps_shape = {}, shape
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        th, tw = self._tile_size
        r, c = positions // shape[1], positions % shape[1]
        origin_r, origin_c = r - r % th, c - c % tw
        out = torch.empty(len(positions), self.num_symbols, dtype=torch.float32)
        groups = _tile_groups(shape, self._tile_size)
        where = {o: (size, i) for size, origins in groups.items() for i, o in enumerate(origins)}
        asked: dict[tuple[int, int], list[tuple[int, int]]] = {size: [] for size in groups}
        for j, origin in enumerate(zip(origin_r.tolist(), origin_c.tolist(), strict=True)):
            size, number = where[origin]
            asked[size].append((j, number))  # row of out, tile number in its group
        for (h, w), origins in groups.items():
            if not asked[(h, w)]:
                continue
            picks = torch.tensor(asked[(h, w)], dtype=torch.int64)  # (n, 2)
            local = torch.from_numpy((r - origin_r) * w + (c - origin_c))[picks[:, 0]]
            chunk_of = picks[:, 1] // TILE_CHUNK
            for chunk in torch.unique(chunk_of).tolist():
                sel = chunk_of == chunk
                first = chunk * TILE_CHUNK
                tiles = torch.stack(
                    [indices[a : a + h, b : b + w] for a, b in origins[first : first + TILE_CHUNK]]
                )
                lo, hi = int(local[sel].min()), int(local[sel].max())
                logits = self._stepped_logits((h, w, first), tiles, lo, hi)
                out[picks[sel, 0]] = logits[picks[sel, 1] - first, local[sel] - lo]
        return torch.softmax(out.double(), dim=-1)

    @property
    def _tile_size(self) -> tuple[int, int]:
        return self.prior.config.height, self.prior.config.width

    def _stepped_logits(self, key: tuple, tiles: torch.Tensor, first: int, last: int):
        """Logits (B, last - first + 1, K) of tile positions first..last, one token a step
        (KV cache, fp32, one thread).

        Steps already taken for the same earlier codes are reused (a step's logits depend only
        on the codes before it, so reuse gives the same bits); only the latest step's logits are
        kept between calls, so decoding a large map holds one step of logits per chunk.
        """
        b, h, w = tiles.shape
        flat = tiles.reshape(b, h * w)
        state = self._steps.get(key)
        if state is not None:
            seen = min(last, state.codes.shape[1])
            if (
                first < state.first
                or state.codes.shape[0] != b
                or not torch.equal(state.codes[:, :seen], flat[:, :seen])
            ):
                state = None
        if state is None:
            state = self._steps[key] = _Steps(self.prior.new_cache(), b)
        threads = torch.get_num_threads()
        torch.set_num_threads(CODING_THREADS)
        try:
            while state.steps <= last:
                step = state.steps
                if step == 0:
                    token = self.prior.start_tokens(b, None)
                else:
                    token = flat[:, step - 1 : step]
                    state.codes = torch.cat([state.codes[:, : step - 1], token], dim=1)
                logits = self.prior.forward_tokens(token, step, (h, w), state.cache)
                state.logits.append(logits[:, -1])
        finally:
            torch.set_num_threads(threads)
        out = torch.stack(state.logits[first - state.first : last - state.first + 1], dim=1)
        del state.logits[: last - state.first]  # keep the latest step only
        state.first = last
        return out


class _Steps:
    """The incremental pass over one chunk of tiles: KV cache, codes fed, logits of steps
    ``first`` .. ``steps - 1``."""

    def __init__(self, cache, batch: int) -> None:
        self.cache = cache
        self.codes = torch.zeros(batch, 0, dtype=torch.int64)
        self.logits: list[torch.Tensor] = []
        self.first = 0

    @property
    def steps(self) -> int:
        return self.first + len(self.logits)


def _tile_groups(
    shape: tuple[int, int], tile: tuple[int, int]
) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Tiles of a map, grouped by shape: {(h, w): [(row, col) of each tile's top-left]}, the
    groups in order of their first tile, each group's tiles in raster order."""
    (height, width), (th, tw) = shape, tile
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for row in range(0, height, th):
        for col in range(0, width, tw):
            size = (min(th, height - row), min(tw, width - col))
            groups.setdefault(size, []).append((row, col))
    return groups

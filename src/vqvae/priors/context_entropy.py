"""The context model as the codec's probability model (``--entropy-model context``).

Coding order: the four groups of ``vqvae.priors.context`` one after another, each group one
block (its positions in raster order, decoded together). A group's tables come from one pass
of the network over the map with the codes of the earlier groups known and the rest masked,
fp32 on CPU with one intra-op thread, softmax in float64 -> ``quantize_pmf``. Encoder and
decoder feed the same masked input of the same shape, so both build bit-identical tables
(``codec.check_consistency`` tests this).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..entropy.tables import ProbabilityModel, network_fingerprint
from .context import ContextModel, group_map, has_context, load_context

CODING_THREADS = 1
CODING_PATH = b"context-groups-v1"
"""Names how the tables are computed; part of the fingerprint."""


class ContextEntropyModel(ProbabilityModel):
    """Per-position code distributions p(code | codes of earlier groups).

    Args:
        model: the trained ``ContextModel`` (moved to CPU, eval mode).
    """

    name = "context"

    def __init__(self, model: ContextModel) -> None:
        self.model = model.cpu().eval()
        self.num_symbols = model.config.codebook_size
        self._fingerprint: bytes | None = None
        self._cache: dict[int, tuple[bytes, torch.Tensor]] = {}
        self._cache_shape: tuple[int, int] | None = None

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

    def schedule(self, shape: tuple[int, int]) -> list[np.ndarray]:
        levels = self.model.config.levels
        groups = group_map(int(shape[0]), int(shape[1]), levels).view(-1).numpy()
        count = self.model.config.num_groups
        blocks = [np.flatnonzero(groups == g).astype(np.int64) for g in range(count)]
        return [b for b in blocks if len(b)]

    @torch.no_grad()
    def probabilities(self, indices: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
        """(len(positions), K) float64 probabilities of raster ``positions``, each from the
        codes of the groups before its own."""
        indices = indices.detach().cpu().long()
        if indices.dim() != 2:
            raise ValueError(f"expected a code map (h, w), got {tuple(indices.shape)}")
        h, w = (int(s) for s in indices.shape)
        if self._cache_shape != (h, w):
            self._cache, self._cache_shape = {}, (h, w)
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        groups = group_map(h, w, self.model.config.levels).view(-1)
        rank = torch.empty(h * w, dtype=torch.int64)  # position -> its place within its group
        for g in range(self.model.config.num_groups):
            members = groups == g
            rank[members] = torch.arange(int(members.sum()))
        pos = torch.from_numpy(positions)
        out = torch.empty(len(positions), self.num_symbols, dtype=torch.float64)
        for g in torch.unique(groups[pos]).tolist():
            sel = groups[pos] == g
            logits = self._group_logits(indices, groups, g)
            out[sel] = torch.softmax(logits[rank[pos[sel]]].double(), dim=-1)
        return out

    def _group_logits(self, indices: torch.Tensor, groups: torch.Tensor, g: int) -> torch.Tensor:
        """(n_g, K) fp32 logits of group ``g``, reused while the earlier groups' codes agree."""
        known = indices.view(-1)[groups < g].numpy().tobytes()
        cached = self._cache.get(g)
        if cached is not None and cached[0] == known:
            return cached[1]
        threads = torch.get_num_threads()
        torch.set_num_threads(CODING_THREADS)
        try:
            logits = self.model(indices.unsqueeze(0), g)[0].float()
        finally:
            torch.set_num_threads(threads)
        self._cache[g] = (known, logits)
        return logits

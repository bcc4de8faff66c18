"""The prior as the codec's probability model (``--entropy-model prior``).

Encoder and decoder must build bit-identical integer tables, so there is exactly one code path
(``PriorEntropyModel.probabilities``) and it is deterministic::

    map so far (h, w), later positions whatever they hold; maps larger than the prior's
    (H, W) are split into H x W tiles coded independently
      -> one full teacher-forced pass per tile, (1, h, w), "no label" start token, fp32 on CPU,
         one intra-op thread (the reduction order of a kernel may depend on its thread split)
      -> logits (N, K) -> softmax in float64 -> rows [start, stop) -> codec.quantize_pmf

The encoder asks for all N rows at once, the decoder one position at a time (``decode_block``
is 1), both with the same-shaped pass, so causal masking -- not a KV cache or a shorter
sequence -- is what hides the positions not decoded yet: masked attention weights are exactly
0, and row p of every matrix product reads only row p, so row p's bits do not depend on what
the map holds from p on (``codec.check_consistency`` tests this on real maps).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..codec.entropy import ProbabilityModel, fingerprint_bytes, register_entropy_model
from .io import has_prior, load_prior
from .transformer import TransformerPrior

CODING_THREADS = 1


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

    def fingerprint(self) -> bytes:
        if self._fingerprint is None:  # derived lazily, never refreshed by hand
            parts = [
                self.name.encode(),
                json.dumps(self.prior.config.to_dict(), sort_keys=True).encode(),
            ]
            for key, tensor in sorted(self.prior.state_dict().items()):
                t = tensor.detach().cpu().contiguous()
                parts.append(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
                parts.append(t.reshape(-1).view(torch.uint8).numpy().tobytes())
            self._fingerprint = fingerprint_bytes(*parts)
        return self._fingerprint

    def decode_block(self, shape: tuple[int, int]) -> int:
        return 1

    @torch.no_grad()
    def probabilities(self, indices: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """(stop - start, K) float64 probabilities of raster positions [start, stop).

        A map larger than the prior's (H, W) is coded in H x W tiles (the last row / column
        of tiles may be smaller), each conditioned only on its own earlier codes: every code a
        tile position depends on comes earlier in the whole map's raster order too, so the
        decoder has it. Each tile gets its own pass of the tile's shape on both sides.
        """
        indices = indices.detach().cpu().long()
        if indices.dim() != 2:
            raise ValueError(f"expected a code map (h, w), got {tuple(indices.shape)}")
        height, width = indices.shape
        th, tw = self.prior.config.height, self.prior.config.width
        tiles: dict[tuple[int, int], torch.Tensor] = {}
        rows = []
        for p in range(start, stop):
            r, c = divmod(p, width)
            key = (r // th, c // tw)
            if key not in tiles:
                tile = indices[key[0] * th : (key[0] + 1) * th, key[1] * tw : (key[1] + 1) * tw]
                tiles[key] = self._tile_logits(tile)
            rows.append(tiles[key][r - key[0] * th, c - key[1] * tw])
        return torch.softmax(torch.stack(rows).double(), dim=-1)

    def _tile_logits(self, tile: torch.Tensor) -> torch.Tensor:
        """One teacher-forced pass over a tile (h, w) -> logits (h, w, K), fp32, one thread."""
        threads = torch.get_num_threads()
        torch.set_num_threads(CODING_THREADS)
        try:
            return self.prior(tile[None].contiguous(), None)[0]
        finally:
            torch.set_num_threads(threads)


def _load(model, run_dir: str | Path | None) -> PriorEntropyModel | None:
    if run_dir is None or not has_prior(run_dir):
        return None
    return PriorEntropyModel(load_prior(run_dir))


register_entropy_model("prior", _load, priority=20)

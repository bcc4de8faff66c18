"""The prior as the codec's probability model (``--entropy-model prior``).

Encoder and decoder must build bit-identical integer tables, so there is exactly one code path
(``PriorEntropyModel.probabilities``) and it is deterministic::

    map so far (h, w), later positions whatever they hold
      -> one full teacher-forced pass, (1, h, w), "no label" start token, fp32 on CPU,
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
from ..errors import DataError
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
        """(stop - start, K) float64 probabilities of raster positions [start, stop)."""
        indices = indices.detach().cpu().long()
        if indices.dim() != 2:
            raise ValueError(f"expected a code map (h, w), got {tuple(indices.shape)}")
        try:
            self.prior.check_shape(tuple(indices.shape))
        except ValueError as exc:
            raise DataError(f"{exc}; use --entropy-model static") from None
        threads = torch.get_num_threads()
        torch.set_num_threads(CODING_THREADS)
        try:
            logits = self.prior(indices[None].contiguous(), None)  # (1, h, w, K) fp32
        finally:
            torch.set_num_threads(threads)
        logits = logits.reshape(-1, self.num_symbols)[start:stop].double()
        return torch.softmax(logits, dim=-1)


def _load(model, run_dir: str | Path | None) -> PriorEntropyModel | None:
    if run_dir is None or not has_prior(run_dir):
        return None
    return PriorEntropyModel(load_prior(run_dir))


register_entropy_model("prior", _load, priority=20)

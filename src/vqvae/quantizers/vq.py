"""The VQ-VAE quantizer (van den Oord et al. 2017, "Neural Discrete Representation Learning").

    z_e (B, D, H, W) --nearest code--> indices (B, H, W) --lookup--> e (B, D, H, W)
    z_q = z_e + sg(e - z_e)                       # straight-through estimator (paper eq. 3)
    loss = ||sg(z_e) - e||^2 + beta * ||z_e - sg(e)||^2   # codebook + commitment terms

Two codebook learners share this module: ``VectorQuantizer`` learns the codebook by gradient
through the codebook term; ``EMAVectorQuantizer`` replaces that term by exponential moving
averages of assigned vectors (paper appendix A.1), so its loss is the commitment term alone.
Both restart dead codes from current batch vectors and can initialise the codebook by k-means.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .. import dist
from ..config import QuantizerConfig
from .base import Quantizer, QuantizerOutput, perplexity_from_counts, register
from .distance import nearest_code
from .kmeans import kmeans


def _no_autocast(device_type: str):
    """Quantizer math runs in fp32 even inside an autocast region."""
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # device type without autocast support
        return contextlib.nullcontext()


@register("vq")
class VectorQuantizer(Quantizer):
    """Nearest-neighbour VQ with a codebook learned by gradient descent.

    Quantizes axis 1 of ``z_e``: input (B, D, *spatial), output z_q of the same shape and
    indices (B, *spatial). In training mode it also tracks per-code usage (an EMA of the
    assignment counts, all-reduced across ranks) to restart dead codes; in eval mode it
    changes no state.
    """

    def __init__(self, config: QuantizerConfig) -> None:
        super().__init__(config)
        k, d = config.codebook_size, config.code_dim
        self._init_codebook_storage(k, d)
        # Running assignments per code (an EMA of counts); starts at 1 so that
        # codebook = embed_sum / cluster_size holds from the first step in the EMA variant.
        self.register_buffer("cluster_size", torch.ones(k))
        self.register_buffer("initialized", torch.tensor(not config.kmeans_init))

    def _init_codebook_storage(self, k: int, d: int) -> None:
        self.codebook = nn.Parameter(torch.empty(k, d).uniform_(-1.0 / k, 1.0 / k))

    @property
    def weight(self) -> torch.Tensor:
        """The (K, D) codebook."""
        return self.codebook

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """Look up codes: indices (B, *spatial) -> z_q (B, D, *spatial)."""
        return F.embedding(indices, self.weight).movedim(-1, 1)

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        if z_e.dim() < 2 or z_e.shape[1] != self.config.code_dim:
            raise ValueError(
                f"expected z_e of shape (B, {self.config.code_dim}, ...), got {tuple(z_e.shape)}"
            )
        with _no_autocast(z_e.device.type):
            flat = z_e.float().movedim(1, -1).reshape(-1, self.config.code_dim)  # (N, D)
            if self.training and not bool(self.initialized):
                self._kmeans_init(flat.detach())
            indices = nearest_code(flat.detach(), self.weight.detach())  # (N,)
            codes = F.embedding(indices, self.weight)  # (N, D), gradient reaches the codebook
            counts = torch.bincount(indices, minlength=self.codebook_size)
            # Codebook term moves codes towards encoder outputs; commitment term (weighted by
            # beta) keeps encoder outputs near their codes. Each sees a stop-gradient on the other.
            codebook_loss = F.mse_loss(codes, flat.detach())
            commitment_loss = F.mse_loss(flat, codes.detach())
            if self.training:
                with torch.no_grad():
                    self._update(flat.detach(), indices, counts)
            z_q = flat + (codes - flat).detach()  # straight-through: d z_q / d z_e = I
            loss = self._loss(codebook_loss, commitment_loss)
            perplexity = perplexity_from_counts(counts)
        spatial = z_e.shape[2:]
        z_q = z_q.reshape(z_e.shape[0], *spatial, -1).movedim(-1, 1).to(z_e.dtype)
        return QuantizerOutput(
            z_q=z_q,
            indices=indices.reshape(z_e.shape[0], *spatial),
            loss=loss,
            perplexity=perplexity,
            codebook_loss=codebook_loss,
            commitment_loss=commitment_loss,
        )

    def _loss(self, codebook_loss: torch.Tensor, commitment_loss: torch.Tensor) -> torch.Tensor:
        return codebook_loss + self.config.commitment_weight * commitment_loss

    # ---- training-time state -------------------------------------------------------------

    def _kmeans_init(self, flat: torch.Tensor) -> None:
        # Under DDP every rank clusters the whole global batch (all ranks' vectors, in rank
        # order): the result does not depend on the number of ranks, and every rank draws the
        # same random numbers, so their global RNGs stay in step.
        centroids = kmeans(dist.all_gather_rows(flat), self.codebook_size, self.config.kmeans_iters)
        dist.broadcast_(centroids)  # bit-identical on every rank, whatever the hardware
        self._set_codes(torch.ones_like(self.cluster_size, dtype=torch.bool), centroids, 1.0)
        self.initialized.fill_(True)

    def _update(self, flat: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        counts = dist.all_reduce_sum_(counts.float())
        self.cluster_size.mul_(self.config.decay).add_(counts, alpha=1 - self.config.decay)
        self._restart_dead_codes(flat)

    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        """Move codes whose usage fell below a fraction of a uniform share onto batch vectors."""
        if self.config.dead_code_threshold <= 0:
            return
        share = self.cluster_size.sum() / self.codebook_size
        dead = self.cluster_size < self.config.dead_code_threshold * share
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        # Draw from the global batch (every rank's vectors, in rank order) with the global RNG,
        # which is in the same state on every rank: all ranks pick the same rows, and the same
        # ones a single process would on the same global batch. Only the picked rows travel.
        sizes = dist.row_counts(flat.shape[0], flat.device)
        total = sum(sizes)
        if n_dead <= total:
            pick = torch.randperm(total, device=flat.device)[:n_dead]
        else:
            pick = torch.randint(total, (n_dead,), device=flat.device)
        fresh = dist.gather_rows(flat, pick, sizes)
        self._set_codes(dead, fresh, float(share))

    def _set_codes(self, mask: torch.Tensor, vectors: torch.Tensor, usage: float) -> None:
        """Overwrite the codes in ``mask`` and reset their statistics to ``usage`` assignments."""
        with torch.no_grad():
            self.codebook[mask] = vectors.to(self.codebook.dtype)
        self.cluster_size[mask] = usage


@register("ema")
class EMAVectorQuantizer(VectorQuantizer):
    """VQ whose codebook follows exponential moving averages of its assigned vectors.

    Per step, with n_k assignments and s_k their sum (all-reduced across ranks):
        N_k <- decay N_k + (1 - decay) n_k,   m_k <- decay m_k + (1 - decay) s_k
        e_k = m_k / N~_k,  N~_k = (N_k + eps) / (sum N + K eps) * sum N   (Laplace smoothing)
    The codebook gets no gradient; the loss is beta * commitment.
    """

    def _init_codebook_storage(self, k: int, d: int) -> None:
        self.register_buffer("codebook", torch.randn(k, d))
        self.register_buffer("embed_sum", self.codebook.clone())

    def _loss(self, codebook_loss: torch.Tensor, commitment_loss: torch.Tensor) -> torch.Tensor:
        return self.config.commitment_weight * commitment_loss

    def _update(self, flat: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        decay, eps = self.config.decay, self.config.eps
        sums = torch.zeros_like(self.embed_sum).index_add_(0, indices, flat)  # (K, D)
        # Sum the statistics over ranks *before* the update (one all-reduce for both), so every
        # rank applies the same update: the global batch's counts and sums.
        stats = dist.all_reduce_sum_(torch.cat([counts.float()[:, None], sums], dim=1))
        counts, sums = stats[:, 0], stats[:, 1:]
        self.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        self.embed_sum.mul_(decay).add_(sums, alpha=1 - decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + eps) / (total + self.codebook_size * eps) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])
        self._restart_dead_codes(flat)

    def _set_codes(self, mask: torch.Tensor, vectors: torch.Tensor, usage: float) -> None:
        super()._set_codes(mask, vectors, usage)
        self.embed_sum[mask] = self.codebook[mask] * usage

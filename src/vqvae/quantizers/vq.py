"""The VQ-VAE quantizer (van den Oord et al. 2017, "Neural Discrete Representation Learning").

    z_e (B, D, H, W) --nearest code--> indices (B, H, W) --lookup--> e (B, D, H, W)
    z_q = z_e + sg(e - z_e)                       # straight-through estimator (paper eq. 3)
    loss = ||sg(z_e) - e||^2 + beta * ||z_e - sg(e)||^2   # codebook + commitment terms

Two codebook learners share this module: ``VectorQuantizer`` learns the codebook by gradient
through the codebook term; ``EMAVectorQuantizer`` replaces that term by exponential moving
averages of assigned vectors (paper appendix A.1), so its loss is the commitment term alone.
Both restart dead codes from current batch vectors and can initialise the codebook by k-means.
``config.rotation_trick`` swaps the straight-through estimator for the rotation trick and
``config.entropy_weight`` adds the entropy (diversity) regulariser of ``estimators.py``.

``VectorQuantizer.lookup`` is the nearest-code step on (N, d) rows without the estimator; the
multi-codebook quantizers (residual, grouped) call it per stage and apply one estimator on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import dist
from ..config import QuantizerConfig
from ..rate import unigram_bits
from .base import (
    Quantizer,
    QuantizerOutput,
    from_flat,
    no_autocast,
    perplexity_from_counts,
    register,
    to_flat,
)
from .distance import nearest_code
from .estimators import entropy_penalty, rotate_to, straight_through
from .kmeans import kmeans

_no_autocast = no_autocast  # kept for importers of the old private name


@dataclass
class Lookup:
    """One nearest-code step on (N, d) rows in a quantizer's lookup space.

    Attributes:
        vectors: (N, d) the rows looked up (gradient path to the encoder).
        codes: (N, d) their nearest codes (gradient path to a learned codebook).
        indices: (N,) int64 code ids.
        counts: (K,) assignments per code in this batch.
        loss: the weighted quantizer loss of this step.
        codebook_loss, commitment_loss: the two terms before weighting.
    """

    vectors: torch.Tensor
    codes: torch.Tensor
    indices: torch.Tensor
    counts: torch.Tensor
    loss: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


def row_sums(flat: torch.Tensor, indices: torch.Tensor, k: int) -> torch.Tensor:
    """sums[k] = sum of the rows of ``flat`` (N, D) assigned to code k: (K, D), fp32.

    One weighted bincount over (code, channel) pairs: on CPU several times faster than
    ``index_add_`` (the EMA step's hot spot); equal to it up to float rounding order.
    """
    d = flat.shape[1]
    keys = (indices[:, None] * d + torch.arange(d, device=flat.device)).flatten()
    sums = torch.bincount(keys, weights=flat.flatten(), minlength=k * d)
    return sums.view(k, d).to(flat.dtype)


def estimate(config: QuantizerConfig, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """The configured gradient estimator: value ``codes``, gradient to ``z``."""
    return rotate_to(z, codes) if config.rotation_trick else straight_through(z, codes)


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
        k, d = config.codebook_size, self._lookup_dim()
        self._init_codebook_storage(k, d)
        # Running assignments per code (an EMA of counts); starts at 1 so that
        # codebook = embed_sum / cluster_size holds from the first step in the EMA variant.
        self.register_buffer("cluster_size", torch.ones(k))
        # Recent assignments per code, an EMA at the (faster) restart decay: decides which
        # codes are dead, so restarts do not wait for the slow codebook EMA to forget a code.
        self.register_buffer("recent_usage", torch.ones(k))
        self.register_buffer("initialized", torch.tensor(not config.kmeans_init))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        # Weights saved before ``recent_usage`` existed: start it from the codebook usage.
        if prefix + "cluster_size" in state_dict and prefix + "recent_usage" not in state_dict:
            state_dict[prefix + "recent_usage"] = state_dict[prefix + "cluster_size"].clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _lookup_dim(self) -> int:
        return self.config.code_dim

    def _init_codebook_storage(self, k: int, d: int) -> None:
        self.codebook = nn.Parameter(torch.empty(k, d).uniform_(-1.0 / k, 1.0 / k))

    @property
    def weight(self) -> torch.Tensor:
        """The (K, D) codebook."""
        return self.codebook

    # Hooks for quantizers that look codes up in another space (see CosineVectorQuantizer).
    def _project_in(self, flat: torch.Tensor) -> torch.Tensor:
        return flat

    def _project_out(self, codes: torch.Tensor) -> torch.Tensor:
        return codes

    def _lookup_codebook(self) -> torch.Tensor:
        return self.weight

    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """Look up codes: indices (B, *spatial) -> z_q (B, D, *spatial)."""
        return self._project_out(F.embedding(indices, self._lookup_codebook())).movedim(-1, 1)

    @torch.no_grad()
    def code_distances(self, z_e: torch.Tensor) -> torch.Tensor:
        """Squared distances (B, *spatial, K) from each latent vector of ``z_e`` (B, D,
        *spatial) to every code, in the space where nearest codes are looked up (fp32)."""
        self._check_input(z_e)
        vectors = self._project_in(to_flat(z_e).float())  # (N, d)
        codebook = self._lookup_codebook().float()
        d = torch.addmm(codebook.pow(2).sum(1), vectors, codebook.t(), alpha=-2.0)
        d = d.add_(vectors.pow(2).sum(1, keepdim=True)).clamp_(min=0.0)
        return d.reshape(z_e.shape[0], *z_e.shape[2:], -1)

    def forward(self, z_e: torch.Tensor, code_cost: torch.Tensor | None = None) -> QuantizerOutput:
        """Quantize ``z_e`` (B, D, *spatial).

        ``code_cost`` (B, *spatial, K), optional: a cost added to each vector's squared distance
        to each code before the nearest code is taken, in the same units (e.g. lambda times
        the code's length in bits under a context model, see ``vqvae.models.assignment``).
        """
        self._check_input(z_e)
        if code_cost is not None:
            expected = (z_e.shape[0], *z_e.shape[2:], self.codebook_size)
            if tuple(code_cost.shape) != expected:
                raise ValueError(
                    f"code_cost must have shape {expected}, got {tuple(code_cost.shape)}"
                )
            code_cost = code_cost.reshape(-1, self.codebook_size)
        with no_autocast(z_e.device.type):
            flat = to_flat(z_e)  # (N, D)
            step = self.lookup(flat, code_cost)
            z_q = self._project_out(estimate(self.config, step.vectors, step.codes))
            perplexity = perplexity_from_counts(step.counts)
        return QuantizerOutput(
            z_q=from_flat(z_q, z_e),
            indices=step.indices.reshape(z_e.shape[0], *z_e.shape[2:]),
            loss=step.loss,
            perplexity=perplexity,
            codebook_loss=step.codebook_loss,
            commitment_loss=step.commitment_loss,
        )

    def lookup(self, flat: torch.Tensor, code_cost: torch.Tensor | None = None) -> Lookup:
        """Nearest codes of (N, D) fp32 rows, the losses, and (in training) the state update.

        ``code_cost`` (N, K), optional: added to the distances (and to the rate bias).
        """
        vectors = self._project_in(flat)  # (N, d)
        if self.training and not bool(self.initialized):
            self._kmeans_init(vectors.detach())
        codebook = self._lookup_codebook()
        bias = self.rate_bias()
        if code_cost is not None:
            bias = code_cost.detach().float() + (0.0 if bias is None else bias)
        indices = nearest_code(vectors.detach(), codebook.detach(), bias)  # (N,)
        codes = F.embedding(indices, codebook)  # (N, d), gradient reaches the codebook
        counts = torch.bincount(indices, minlength=self.codebook_size)
        # Codebook term moves codes towards encoder outputs; commitment term (weighted by
        # beta) keeps encoder outputs near their codes. Each sees a stop-gradient on the other.
        commitment_loss = F.mse_loss(vectors, codes.detach())
        if codes.requires_grad:
            codebook_loss = F.mse_loss(codes, vectors.detach())
        else:  # an EMA codebook: the same value, and no graph to build
            codebook_loss = commitment_loss.detach()
        loss = self._loss(codebook_loss, commitment_loss)
        if self.config.entropy_weight > 0:
            temperature = float(self.config.option("entropy_temperature", 1.0))
            # A clone, so the in-place EMA step / restarts below leave the saved tensor intact.
            loss = loss + self.config.entropy_weight * entropy_penalty(
                vectors, codebook.clone(), temperature
            )
        if self.training:
            with torch.no_grad():
                self._update(vectors.detach(), indices, counts)
        return Lookup(vectors, codes, indices, counts, loss, codebook_loss, commitment_loss)

    def _loss(self, codebook_loss: torch.Tensor, commitment_loss: torch.Tensor) -> torch.Tensor:
        return codebook_loss + self.config.commitment_weight * commitment_loss

    def rate_bias(self) -> torch.Tensor | None:
        """lambda * -log2 p_k, p_k the codes' running usage share; None when rate_weight = 0.

        Entropy-constrained VQ (Chou, Lookabaugh & Gray 1989): the nearest code under
        ||z - e_k||^2 + lambda * bits_k, which trades latent distortion for a lower code rate.
        """
        weight = self.config.rate_weight
        if weight <= 0:
            return None
        return (weight * unigram_bits(self.cluster_size, self.config.eps)).float()

    # ---- training-time state -------------------------------------------------------------

    def _kmeans_init(self, flat: torch.Tensor) -> None:
        # Under DDP every rank clusters the whole global batch (all ranks' vectors, in rank
        # order): the result does not depend on the number of ranks, and every rank draws the
        # same random numbers, so their global RNGs stay in step.
        centroids = kmeans(dist.all_gather_rows(flat), self.codebook_size, self.config.kmeans_iters)
        dist.broadcast_(centroids)  # bit-identical on every rank, whatever the hardware
        self._set_codes(torch.ones_like(self.cluster_size, dtype=torch.bool), centroids, 1.0)
        self.recent_usage.fill_(1.0)
        self.initialized.fill_(True)

    def _update(self, flat: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        counts = dist.all_reduce_sum_(counts.float())
        self.cluster_size.mul_(self.config.decay).add_(counts, alpha=1 - self.config.decay)
        self._restart_dead_codes(flat, counts)

    def _restart_dead_codes(self, flat: torch.Tensor, counts: torch.Tensor) -> None:
        """Move codes whose recent usage fell below a fraction of a uniform share onto batch
        vectors.

        ``counts`` are this step's global assignments per code; they update ``recent_usage``
        (an EMA at ``config.restart_decay``), which is compared with the threshold.
        """
        decay = self.config.restart_decay
        self.recent_usage.mul_(decay).add_(counts, alpha=1 - decay)
        if self.config.dead_code_threshold <= 0:
            return
        recent_share = self.recent_usage.sum() / self.codebook_size
        dead = self.recent_usage < self.config.dead_code_threshold * recent_share
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
        self._set_codes(dead, fresh, float(self.cluster_size.sum() / self.codebook_size))
        self.recent_usage[dead] = recent_share

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
        sums = row_sums(flat, indices, self.codebook_size)  # (K, D)
        # Sum the statistics over ranks *before* the update (one all-reduce for both), so every
        # rank applies the same update: the global batch's counts and sums.
        stats = dist.all_reduce_sum_(torch.cat([counts.float()[:, None], sums], dim=1))
        counts, sums = stats[:, 0], stats[:, 1:]
        self.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        self.embed_sum.mul_(decay).add_(sums, alpha=1 - decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + eps) / (total + self.codebook_size * eps) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])
        self._restart_dead_codes(flat, counts)

    def _set_codes(self, mask: torch.Tensor, vectors: torch.Tensor, usage: float) -> None:
        super()._set_codes(mask, vectors, usage)
        self.embed_sum[mask] = self.codebook[mask] * usage

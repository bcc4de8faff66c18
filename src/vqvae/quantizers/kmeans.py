"""Plain Lloyd k-means, used for data-driven codebook initialisation."""

from __future__ import annotations

import torch

from .distance import nearest_code


@torch.no_grad()
def kmeans(
    vectors: torch.Tensor, k: int, iters: int = 10, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Cluster (N, D) vectors into k centroids (k, D), fp32.

    Seeds with k-means++ (Arthur & Vassilvitskii 2007; random samples plus tiny noise when
    N < k), then runs ``iters`` Lloyd steps; an empty cluster keeps its previous centroid.
    """
    vectors = vectors.float()
    n = vectors.shape[0]
    if n >= k:
        centroids = _kmeans_plus_plus(vectors, k, generator)
    else:
        pick = torch.randint(n, (k,), generator=generator, device="cpu").to(vectors.device)
        noise = torch.randn(k, vectors.shape[1], generator=generator, device="cpu")
        centroids = vectors[pick] + 1e-3 * vectors.std() * noise.to(vectors.device)
    for _ in range(iters):
        assign = nearest_code(vectors, centroids)
        counts = torch.bincount(assign, minlength=k).float()
        sums = torch.zeros_like(centroids).index_add_(0, assign, vectors)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids


def _kmeans_plus_plus(
    vectors: torch.Tensor, k: int, generator: torch.Generator | None
) -> torch.Tensor:
    """D^2 seeding: each new centre is a sample drawn with probability ~ squared distance."""
    n = vectors.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    centroids = [vectors[first]]
    min_sq = (vectors - vectors[first]).pow(2).sum(1)
    for _ in range(1, k):
        weights = min_sq.double().cpu()
        if float(weights.sum()) <= 0:  # all remaining points coincide with centres
            weights = torch.ones(n, dtype=torch.double)
        nxt = int(torch.multinomial(weights, 1, generator=generator))
        centroids.append(vectors[nxt])
        min_sq = torch.minimum(min_sq, (vectors - vectors[nxt]).pow(2).sum(1))
    return torch.stack(centroids)

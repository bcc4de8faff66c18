"""The Fréchet distance between two Gaussians fitted to feature vectors (Heusel et al. 2017,
the distance behind FID), and a running accumulator of the mean and covariance.

    FD = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

``vqvae eval --fid`` applies it to the features of the project's own scoring network
(``fd_vqvae``): it is *not* Inception FID, and its values are not comparable with FID's.
"""

from __future__ import annotations

import numpy as np
import torch


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    tr((S_1 S_2)^(1/2)) is taken as the sum of the square roots of the eigenvalues of the
    symmetric S_1^(1/2) S_2 S_1^(1/2) (same spectrum, no complex round-off as with sqrtm).

    Args:
        mu1, mu2: (D,) means. sigma1, sigma2: (D, D) covariances (symmetric, PSD).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(
            f"shapes do not match: {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}"
        )
    root1 = _sqrt_psd((sigma1 + sigma1.T) / 2)
    middle = root1 @ ((sigma2 + sigma2.T) / 2) @ root1
    trace_sqrt = np.sqrt(np.linalg.eigvalsh((middle + middle.T) / 2).clip(min=0)).sum()
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)
    return max(value, 0.0)  # >= 0 in exact arithmetic; round-off can dip below


class GaussianStatistics:
    """Running mean and (unbiased, as ``np.cov``) covariance of (N, D) feature batches."""

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.total = np.zeros(dim, np.float64)
        self.outer = np.zeros((dim, dim), np.float64)

    def update(self, features: torch.Tensor | np.ndarray) -> None:
        f = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features)
        f = f.astype(np.float64)
        self.n += len(f)
        self.total += f.sum(0)
        self.outer += f.T @ f

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu (D,), sigma (D, D)); needs at least two vectors."""
        if self.n < 2:
            raise ValueError("a covariance needs at least 2 feature vectors")
        mu = self.total / self.n
        return mu, (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)


def frechet_distance_of(real: GaussianStatistics, other: GaussianStatistics) -> float:
    """``frechet_distance`` of two accumulated feature sets."""
    return frechet_distance(*real.mean_cov(), *other.mean_cov())

"""The Fréchet distance against hand computations on Gaussians and scipy's sqrtm."""

import numpy as np
import pytest
import torch

from vqvae.metrics import GaussianStatistics, frechet_distance, frechet_distance_of


def test_diagonal_covariances_have_the_closed_form():
    """Diagonal S_1 = diag(a), S_2 = diag(b): FD = |mu_1 - mu_2|^2 + sum (sqrt a - sqrt b)^2."""
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0  # = 7
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-12)
    assert frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0, abs=1e-12)


def test_rotated_diagonal_covariances_give_the_same_distance():
    """FD is invariant to a common rotation of both Gaussians."""
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = q @ np.diag([1.0, 4.0, 9.0]) @ q.T, q @ np.diag([4.0, 1.0, 9.0]) @ q.T
    assert frechet_distance(q @ mu1, s1, q @ mu2, s2) == pytest.approx(7, abs=1e-9)


def test_full_covariances_match_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T, b @ b.T + np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_running_statistics_equal_numpy_mean_and_cov():
    f = np.random.default_rng(2).normal(size=(50, 4))
    stats = GaussianStatistics(4)
    for chunk in (f[:7], torch.from_numpy(f[7:30]), f[30:]):
        stats.update(chunk)
    mu, sigma = stats.mean_cov()
    assert np.allclose(mu, f.mean(0)) and np.allclose(sigma, np.cov(f, rowvar=False))
    other = GaussianStatistics(4)
    other.update(f + 1.0)  # shifted by 1 in each of 4 dims: FD = 4
    assert frechet_distance_of(stats, other) == pytest.approx(4.0, abs=1e-9)


def test_bad_shapes_and_too_few_vectors_are_refused():
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    stats = GaussianStatistics(2)
    stats.update(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        stats.mean_cov()

"""A small MNIST CNN for judging generated digits: class accuracy and Fréchet distance.

Its 128-d penultimate activations are the feature space of the Fréchet distance (FID-style,
Heusel et al. 2017, with this classifier in place of Inception).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, 28, 28) in [0, 1] -> (B, 128)."""
        x = F.max_pool2d(F.relu(self.conv1(x - 0.5)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


def train_classifier(train_set, epochs: int = 2, batch_size: int = 128, seed: int = 0):
    """Train on an ``ImageDataset`` (MNIST train split) with Adam; returns the model in eval."""
    torch.manual_seed(seed)
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    n = len(train_set)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
        for b in range(n // batch_size):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            x, y = train_set.batch(idx), train_set.labels[idx]
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def predict(model: Classifier, x: torch.Tensor, batch_size: int = 1000):
    """(labels (N,), features (N, 128)) for images x (N, 1, 28, 28) in [0, 1]."""
    labels, feats = [], []
    for start in range(0, len(x), batch_size):
        f = model.features(x[start : start + batch_size])
        feats.append(f)
        labels.append(model.fc2(f).argmax(1))
    return torch.cat(labels), torch.cat(feats)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) of two feature sets."""
    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_root)

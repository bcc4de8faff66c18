"""The Gated PixelCNN prior of benchmarks/pixelcnn_prior.py: causality, shapes, training."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vqvae.data.codes import CodeDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from pixelcnn_prior import GatedPixelCNN, evaluate_pixelcnn, train_pixelcnn  # noqa: E402

K = 8


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("with_labels", [False, True])
def test_causal_and_no_blind_spot(with_labels):
    h, w = 5, 6
    n = h * w
    model = GatedPixelCNN(K, num_classes=3, channels=8, layers=3, kernel=5).double().eval()
    base = torch.randint(0, K, (h, w))
    # row 0: the base map; row 1 + p: the base map with the code at raster position p changed
    maps = base.repeat(n + 1, 1, 1)
    for p in range(n):
        maps[1 + p].view(-1)[p] = (base.view(-1)[p] + 1 + p % (K - 1)) % K
    labels = torch.tensor([1] * (n + 1)) if with_labels else None
    with torch.no_grad():
        logits = model(maps, labels).reshape(n + 1, n, K)
    for p in range(n):
        diff = (logits[1 + p] - logits[0]).abs().amax(dim=1)  # (N,) change at each position
        assert diff[: p + 1].max() == 0, f"changing position {p} changed positions <= {p}"
        if p + 1 < n:  # every later position sees it: no blind spot
            assert diff[p + 1 :].min() > 1e-9, f"a later position does not see position {p}"


def test_shapes_labels_and_nll():
    model = GatedPixelCNN(K, num_classes=3, channels=8, layers=2).eval()
    x = torch.randint(0, K, (4, 5, 6))
    logits = model(x)
    assert logits.shape == (4, 5, 6, K) and logits.dtype == torch.float32
    # a negative label means "no label", the same as None; a real label changes the logits
    torch.testing.assert_close(model(x, torch.tensor([-1] * 4)), logits)
    assert not torch.allclose(model(x, 2), logits)
    bits = model.nll_bits(x, torch.tensor([0, 1, 2, -1]))
    assert bits.shape == (4,)
    log_p = torch.log_softmax(model(x, torch.tensor([0, 1, 2, -1])), dim=-1)
    expected = -log_p.gather(-1, x[..., None]).sum(dim=(1, 2, 3)) / math.log(2)
    torch.testing.assert_close(bits, expected)
    with pytest.raises(ValueError):
        model(x, 3)
    with pytest.raises(ValueError):
        GatedPixelCNN(K, num_classes=0)(x, 0)
    with pytest.raises(ValueError):
        GatedPixelCNN(K, kernel=4)


def tiny_codes(n: int, seed: int) -> CodeDataset:
    """Maps whose codes follow the label and position: learnable in a few dozen steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    i, j = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    indices = ((labels[:, None, None] * 3 + i + j) % K).astype(np.uint16)
    noise = rng.random(indices.shape) < 0.1
    indices[noise] = rng.integers(0, K, int(noise.sum()))
    return CodeDataset(indices, torch.from_numpy(labels), K, {})


def test_training_reduces_nll():
    train, test = tiny_codes(64, 0), tiny_codes(32, 1)
    torch.manual_seed(0)
    untrained = evaluate_pixelcnn(GatedPixelCNN(K, 2, channels=16, layers=3), test)
    assert abs(untrained / 16 - math.log2(K)) < 0.5  # about uniform at initialisation
    result = train_pixelcnn(
        train, test, None, channels=16, layers=3, batch_size=16, lr=1e-2, warmup_steps=5,
        max_steps=40,
    )  # fmt: skip
    assert result["steps"] == 40 and result["params"] > 0
    assert result["bits_per_code"] == pytest.approx(result["bits_per_image"] / 16)
    assert result["bits_per_image"] < untrained - 16  # at least 1 bit per code better

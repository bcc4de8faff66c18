"""MS-SSIM against an independent numpy brute force (explicit window sums), hand values and
its properties, including the small-image rule (fewer scales, renormalised weights)."""

import math

import numpy as np
import pytest
import torch

from vqvae.metrics import ms_ssim, ssim
from vqvae.metrics.image import MS_SSIM_WEIGHTS, ms_ssim_scales

C1, C2 = 0.01**2, 0.03**2


def _window(size, sigma=1.5):
    c = np.arange(size) - (size - 1) / 2
    g = np.exp(-(c**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def _pool(img):  # 2x2 mean, zero-padded by one pixel (counted) on an odd side
    h, w = img.shape
    ph, pw = h % 2, w % 2
    padded = np.zeros((h + 2 * ph, w + 2 * pw))
    padded[ph : ph + h, pw : pw + w] = img
    oh, ow = (h + 2 * ph) // 2, (w + 2 * pw) // 2
    return np.array(
        [
            [padded[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean() for j in range(ow)]
            for i in range(oh)
        ]
    )


def _stats(a, b, win):  # mean SSIM and cs over 'valid' windows, one loop per window position
    k = win.shape[0]
    ssims, css = [], []
    for i in range(a.shape[0] - k + 1):
        for j in range(a.shape[1] - k + 1):
            pa, pb = a[i : i + k, j : j + k], b[i : i + k, j : j + k]
            ma, mb = (win * pa).sum(), (win * pb).sum()
            va = (win * (pa - ma) ** 2).sum()
            vb = (win * (pb - mb) ** 2).sum()
            cov = (win * (pa - ma) * (pb - mb)).sum()
            cs = (2 * cov + C2) / (va + vb + C2)
            css.append(cs)
            ssims.append(cs * (2 * ma * mb + C1) / (ma**2 + mb**2 + C1))
    return np.mean(ssims), np.mean(css)


def _brute_ms_ssim(a, b, scales, weights):
    win = _window(11)
    value = 1.0
    for s in range(scales):
        s_val, cs_val = _stats(a, b, win)
        term = s_val if s == scales - 1 else cs_val
        value *= max(term, 0.0) ** weights[s]
        a, b = _pool(a), _pool(b)
    return value


def _pair(size, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, *size, generator=g, dtype=torch.float64)
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1)  # some structure at coarse scales
    return x, (x + 0.1 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)


def test_scale_counts_follow_the_window():
    assert ms_ssim_scales(161, 200) == 5 and ms_ssim_scales(160, 160) == 4
    assert ms_ssim_scales(32, 32) == 2 and ms_ssim_scales(28, 28) == 2
    assert ms_ssim_scales(20, 64) == 1 and ms_ssim_scales(21, 64) == 2


@pytest.mark.parametrize("size, scales", [((32, 33), 2), ((45, 47), 3)])
def test_small_images_match_a_brute_force_with_renormalised_weights(size, scales):
    x, y = _pair(size)
    w = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
    expected = _brute_ms_ssim(x[0, 0].numpy(), y[0, 0].numpy(), scales, w)
    assert ms_ssim(x, y).item() == pytest.approx(expected, rel=1e-5)


def test_five_scales_match_a_brute_force():
    x, y = _pair((176, 177), seed=1)
    expected = _brute_ms_ssim(x[0, 0].numpy(), y[0, 0].numpy(), 5, MS_SSIM_WEIGHTS)
    assert ms_ssim(x, y).item() == pytest.approx(expected, rel=1e-5)


def test_hand_value_of_two_flat_images():
    """Flat grey levels a, b: every cs term is 1 and the last SSIM term is the luminance
    (2ab + C1) / (a^2 + b^2 + C1), raised to the last weight."""
    a, b = 0.2, 0.6
    lum = (2 * a * b + C1) / (a * a + b * b + C1)
    x, y = (
        torch.full((1, 3, 176, 176), a, dtype=torch.float64),
        torch.full((1, 3, 176, 176), b, dtype=torch.float64),
    )
    assert ms_ssim(x, y).item() == pytest.approx(lum**0.1333, rel=1e-9)
    x, y = (
        torch.full((1, 1, 32, 32), a, dtype=torch.float64),
        torch.full((1, 1, 32, 32), b, dtype=torch.float64),
    )
    assert ms_ssim(x, y).item() == pytest.approx(lum ** (0.2856 / (0.0448 + 0.2856)), rel=1e-9)


def test_identical_images_score_one_and_one_scale_is_ssim():
    x, y = _pair((64, 80))
    assert ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    x, y = _pair((20, 20))  # one scale: SSIM itself
    assert ms_ssim(x, y).item() == pytest.approx(ssim(x, y).item(), rel=1e-6)
    assert ms_ssim(x, y).item() < 0.99


def test_per_image_and_per_channel_mean():
    x1, y1 = _pair((40, 40), seed=2)
    x2, y2 = _pair((40, 40), seed=3)
    both = ms_ssim(torch.cat([x1, x2], 1), torch.cat([y1, y2], 1))  # two channels
    assert both.item() == pytest.approx((ms_ssim(x1, y1) + ms_ssim(x2, y2)).item() / 2, rel=1e-6)
    batch = ms_ssim(torch.cat([x1, x2]), torch.cat([y1, y2]))
    assert batch.shape == (2,) and batch[1].item() == pytest.approx(ms_ssim(x2, y2).item())


def test_matches_pytorch_msssim_when_installed():
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _pair((192, 200), seed=4)
    x, y = x.float().expand(2, 3, -1, -1).contiguous(), y.float().expand(2, 3, -1, -1).contiguous()
    ref = pm.ms_ssim(x, y, data_range=1.0, size_average=False)
    assert torch.allclose(ms_ssim(x, y), ref, rtol=1e-5)
    assert math.isclose(ms_ssim(x, y).mean().item(), ref.mean().item(), rel_tol=1e-5)

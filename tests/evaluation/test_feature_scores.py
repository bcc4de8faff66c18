"""vqvae eval --fid: MS-SSIM and fd_vqvae of reconstructions, with the existing keys unchanged."""

import json

import pytest
import torch
import torch.nn.functional as F

from vqvae.cli import main
from vqvae.errors import VQVAEError
from vqvae.evaluation.image import FeatureScores, _tiles
from vqvae.metrics import ms_ssim


def test_large_images_are_scored_as_whole_32_pixel_tiles():
    x = torch.arange(2 * 70 * 100, dtype=torch.float32).reshape(2, 1, 70, 100)
    tiles = _tiles(x)
    assert tiles.shape == (2 * 2 * 3, 1, 32, 32)
    assert torch.equal(tiles[4], x[0, :, 32:64, 32:64])  # image 0, row 1, column 1
    assert torch.equal(tiles[7], x[1, :, 0:32, 32:64])  # image 1, row 0, column 1
    small = torch.zeros(3, 1, 28, 28)
    assert _tiles(small) is small and _tiles(torch.zeros(3, 3, 32, 32)).shape == (3, 3, 32, 32)


def _blur(x):
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    k = (k[:, None] * k[None, :]).expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k, groups=x.shape[1])


def test_perfect_reconstructions_score_zero_and_blur_scores_worse():
    x = torch.rand(40, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    x = _blur(x) * 0.5 + x * 0.5  # some structure
    scores = FeatureScores()
    scores.update(x[:20], x[:20])
    scores.update(x[20:], x[20:])
    result = scores.result()
    assert result["fd_vqvae"] == pytest.approx(0, abs=1e-6) and result["ms_ssim"] == 1.0
    blurred, sharper = FeatureScores(), FeatureScores()
    blurred.update(x, _blur(_blur(x)))
    sharper.update(x, _blur(x))
    assert blurred.result()["fd_vqvae"] > sharper.result()["fd_vqvae"] > 0.01
    assert sharper.result()["ms_ssim"] == pytest.approx(float(ms_ssim(x, _blur(x)).mean()))


def test_tiled_images_average_ms_ssim_over_images_not_tiles():
    x = torch.rand(3, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    scores = FeatureScores()
    scores.update(x, _blur(x))
    assert scores.real.n == 3 * 6  # six tiles each
    assert scores.result()["ms_ssim"] == pytest.approx(float(ms_ssim(x, _blur(x)).mean()))


def test_one_image_is_refused():
    scores = FeatureScores()
    scores.update(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    with pytest.raises(VQVAEError, match="at least 2"):
        scores.result()


def test_eval_fid_adds_two_keys_and_keeps_the_others(capsys):
    assert main(["eval", "mnist", "--json", "--limit", "48", "--device", "cpu"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["eval", "mnist", "--json", "--limit", "48", "--device", "cpu", "--fid"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert set(scored) == set(plain) | {"fd_vqvae", "ms_ssim"}
    assert {k: scored[k] for k in plain} == plain
    assert scored["fd_vqvae"] > 0 and 0.5 < scored["ms_ssim"] < 1


def test_fid_refuses_audio_models():
    from vqvae import VQVAE
    from vqvae.evaluation import evaluate

    with pytest.raises(VQVAEError, match="--fid is for image models"):
        evaluate(VQVAE.from_pretrained("fsdd"), None, fid=True)

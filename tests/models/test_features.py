"""The project's own feature nets (scoring ``fd_vqvae``, loss ``perceptual``) and the
perceptual loss over them: shapes, save/load, freezing, the loss by an independent formula."""

import json

import pytest
import torch
import torch.nn.functional as F

from vqvae import checkpoint
from vqvae.errors import CheckpointError
from vqvae.models.features import (
    SHIPPED,
    FeatureNet,
    FeatureNetConfig,
    PerceptualLoss,
    feature_net_dir,
)

SMALL = FeatureNetConfig(arch="strided", widths=(4, 8), num_outputs=4)


def _images(shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ["vgg", "strided"])
def test_layers_embed_and_head_shapes(arch):
    torch.manual_seed(0)
    net = FeatureNet(FeatureNetConfig(arch=arch, widths=(4, 8, 16), num_outputs=3))
    layers = net.layers(_images((2, 3, 32, 32)))
    assert [f.shape for f in layers] == [(2, 4, 32, 32), (2, 8, 16, 16), (2, 16, 8, 8)]
    assert net.embed(_images((2, 3, 32, 32))).shape == (2, net.feature_dim) == (2, 16)
    assert net(_images((2, 3, 32, 32))).shape == (2, 3)


def test_gray_is_replicated_and_input_size_resizes():
    torch.manual_seed(0)
    net = FeatureNet(FeatureNetConfig(widths=(4, 8), input_size=32)).eval()
    gray = _images((2, 1, 28, 28))
    rgb = gray.expand(-1, 3, -1, -1)
    assert torch.equal(net.embed(gray), net.embed(rgb))
    resized = F.interpolate(rgb, size=(32, 32), mode="bilinear", antialias=True)
    assert torch.allclose(net.embed(rgb), net.embed(resized), atol=1e-6)
    with pytest.raises(ValueError, match="1 or 3"):
        net.embed(_images((2, 2, 32, 32)))


def test_save_and_load_round_trip_frozen_in_eval(tmp_path):
    torch.manual_seed(0)
    net = FeatureNet(SMALL)
    net.save_pretrained(tmp_path / "net")
    loaded = FeatureNet.from_pretrained(tmp_path / "net")
    assert loaded.config == SMALL and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    x = _images((2, 3, 16, 16))
    assert torch.equal(loaded(x), net.eval()(x))
    assert json.loads((tmp_path / "net" / "config.json").read_text())["kind"] == "features"


def test_bad_folders_are_one_line_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not a feature-net folder"):
        FeatureNet.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        FeatureNet.from_pretrained(tmp_path / "empty")
    net = FeatureNet(SMALL)
    net.save_pretrained(tmp_path / "bad")
    raw = json.loads((tmp_path / "bad" / "config.json").read_text())
    raw["net"]["widths"] = [4, 16]
    checkpoint.write_json(tmp_path / "bad" / "config.json", raw)
    with pytest.raises(CheckpointError, match="do not match"):
        FeatureNet.from_pretrained(tmp_path / "bad")
    raw["net"]["arch"] = "resnet"
    checkpoint.write_json(tmp_path / "bad" / "config.json", raw)
    with pytest.raises(CheckpointError, match="arch"):
        FeatureNet.from_pretrained(tmp_path / "bad")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_nets_load_by_name_and_are_small(name):
    folder = feature_net_dir(name)
    assert (folder / "MODEL.md").is_file()
    assert (folder / "model.safetensors").stat().st_size < 5_000_000
    net = FeatureNet.from_pretrained(name)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net.embed(_images((2, 1, 28, 28))).shape == (2, 256)


def test_scoring_and_loss_nets_differ_in_architecture():
    score, loss = (FeatureNet.from_pretrained(n).config for n in ("fd_vqvae", "perceptual"))
    assert score.arch != loss.arch and score.num_outputs != loss.num_outputs


def _reference_loss(net, x_hat, x):
    """LPIPS's formula without learned weights, written independently."""
    total = 0.0
    for a, b in zip(net.layers(x_hat), net.layers(x), strict=True):
        a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
        b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
        total = total + ((a - b) ** 2).sum(1).mean((1, 2)).mean()
    return total


def test_perceptual_loss_matches_the_formula_is_zero_on_x_and_trains_x_hat_only():
    torch.manual_seed(0)
    loss = PerceptualLoss(FeatureNet(SMALL))
    x = _images((3, 3, 20, 20))
    x_hat = _images((3, 3, 20, 20), seed=1).requires_grad_(True)
    value = loss(x_hat, x)
    expected = float(_reference_loss(loss.net, x_hat, x).detach())
    assert float(value.detach()) == pytest.approx(expected, rel=1e-5)
    assert float(value.detach()) > 0 and float(loss(x.clone(), x)) == 0.0
    value.backward()
    assert x_hat.grad is not None and float(x_hat.grad.abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.net.parameters())
    assert not loss.net.training
    gray = _images((2, 1, 28, 28))  # digits: replicated to 3 channels
    assert float(loss(gray, gray)) == 0.0 and float(loss(gray.flip(-1), gray)) > 0


def test_perceptual_loss_loads_the_shipped_net_by_default():
    assert PerceptualLoss.load().net.config == FeatureNet.from_pretrained("perceptual").config

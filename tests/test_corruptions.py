import pytest
import torch

from vqvae.corruptions import (
    Corruption,
    CorruptionError,
    corrupt,
    occlusion_mask,
    parse_corruption,
)
from vqvae.errors import VQVAEError

SPECS = ["gaussian:0.5", "saltpepper:0.2", "mask:0.25"]


def _images(b=8, c=1, h=28, w=28):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(123))


@pytest.mark.parametrize("spec", SPECS)
def test_same_seed_same_corruption(spec):
    x = _images()
    a = corrupt(x, spec, seed=7)
    b = corrupt(x, spec, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("spec", SPECS)
def test_different_seeds_differ(spec):
    x = _images()
    assert not torch.equal(corrupt(x, spec, seed=1), corrupt(x, spec, seed=2))


@pytest.mark.parametrize("spec", SPECS)
def test_output_is_a_valid_image_and_input_untouched(spec):
    x = _images(c=3, h=17, w=23)
    before = x.clone()
    y = corrupt(x, spec, seed=0)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert y.min() >= 0 and y.max() <= 1
    assert torch.equal(x, before)
    assert not torch.equal(y, x)


def test_global_rng_is_used_without_seed():
    x = _images()
    torch.manual_seed(5)
    a = corrupt(x, "gaussian:0.3")
    torch.manual_seed(5)
    assert torch.equal(a, corrupt(x, "gaussian:0.3"))


def test_gaussian_noise_has_the_requested_sigma():
    x = torch.full((16, 1, 32, 32), 0.5)
    noise = corrupt(x, "gaussian:0.1", seed=0) - x  # hardly clipped at 0.5 +- 5 sigma
    assert abs(float(noise.std()) - 0.1) < 0.005
    assert abs(float(noise.mean())) < 0.005
    assert torch.equal(corrupt(x, "gaussian:0", seed=0), x)


def test_salt_and_pepper_rate_and_values():
    x = torch.full((16, 3, 32, 32), 0.5)
    y = corrupt(x, "saltpepper:0.2", seed=0)
    hit = (y != 0.5).any(1)  # (B, H, W): a location is hit in all channels or none
    assert torch.equal(hit, (y != 0.5).all(1))
    assert abs(float(hit.float().mean()) - 0.2) < 0.02
    salt = (y == 1).all(1).float().sum() / hit.float().sum()
    assert abs(float(salt) - 0.5) < 0.05
    assert set(y.unique().tolist()) == {0.0, 0.5, 1.0}


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_mask_covers_about_the_fraction(fraction):
    mask = occlusion_mask((32, 28, 28), fraction, torch.Generator().manual_seed(0))
    covered = mask.float().mean((1, 2))
    assert covered.min() >= fraction - 0.5 / (28 * 28)  # the target is rounded to pixels
    assert covered.max() <= fraction + 0.05
    y = corrupt(torch.ones(32, 1, 28, 28), f"mask:{fraction}", seed=0)
    assert torch.equal(y[:, 0] == 0, mask)


def test_mask_is_made_of_boxes_not_pixels():
    mask = occlusion_mask((1, 64, 64), 0.25, torch.Generator().manual_seed(0))[0]
    # boxes are at least 64 // 8 = 8 wide except the last small fillers: few isolated pixels
    inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    assert inner.sum() > 0.5 * mask.sum()


def test_parse_spec():
    assert parse_corruption("gaussian:0.5") == Corruption("gaussian", 0.5)
    assert parse_corruption(" Salt-Pepper:0.2 ").spec == "saltpepper:0.2"
    assert parse_corruption("mask:1").spec == "mask:1"
    c = Corruption("mask", 0.25)
    assert parse_corruption(c) is c


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "gaussian",
        "gaussian:",
        "gaussian:abc",
        "gaussian:-0.1",
        "gaussian:nan",
        "blur:1",
        "saltpepper:1.5",
        "mask:2",
        ":0.5",
        None,
        0.5,
    ],
)
def test_bad_specs_raise_clear_errors(spec):
    with pytest.raises(CorruptionError) as exc:
        parse_corruption(spec)
    assert isinstance(exc.value, VQVAEError) and isinstance(exc.value, ValueError)
    assert "\n" not in str(exc.value) and str(exc.value)


def test_bad_arguments():
    with pytest.raises(ValueError):
        corrupt(torch.rand(1, 28, 28), "gaussian:0.1", seed=0)
    with pytest.raises(ValueError):
        corrupt(_images(), "gaussian:0.1", torch.Generator(), seed=0)

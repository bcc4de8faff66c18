"""The patch discriminator of images: shapes, receptive field, batch independence, spectral
norm, and the choice of discriminator by the model's signal."""

import pytest
import torch

from vqvae.config import QuantizerConfig, VQVAEConfig
from vqvae.models.discriminator import (
    MultiScaleSTFTDiscriminator,
    build_discriminator,
    discriminator_loss,
    generator_loss,
)
from vqvae.models.image_discriminator import PatchDiscriminator, min_size, receptive_field


def _side(n: int, layers: int = 2) -> int:
    """Logits per side, by the conv arithmetic: out = floor((n + 2 - 4) / s) + 1."""
    for _ in range(layers):
        n = (n - 2) // 2 + 1
    return n - 2  # two stride-1 4x4 convs with padding 1


def test_receptive_field_and_min_size_by_hand():
    # fields: 1 + 3 x (1 + 2 + 4 + 4) = 34 and 1 + 3 x (1 + 2 + 4 + 8 + 8) = 70 (taming's)
    assert receptive_field(2) == 34 and receptive_field(3) == 70
    assert min_size(2) == 12 and _side(12) == 1 and _side(11) == 0


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (64, 64), (29, 45)])
def test_logit_map_and_feature_shapes(size):
    torch.manual_seed(0)
    d = PatchDiscriminator(3)
    judged = d(torch.rand(2, 3, *size))
    assert len(judged) == 1  # one scale
    logits, features = judged[0]
    assert logits.shape == (2, 1, _side(size[0]), _side(size[1]))
    assert [f.shape[1] for f in features] == [32, 64, 128]
    assert features[0].shape[2:] == ((size[0] - 2) // 2 + 1, (size[1] - 2) // 2 + 1)


@pytest.mark.parametrize("size", [28, 32, 64, 37])
def test_each_logit_sees_a_34_pixel_patch(size):
    """The input gradient of one logit is nonzero exactly on its receptive field (leaky
    ReLUs pass gradient everywhere), cut by the image's edge."""
    torch.manual_seed(0)
    d = PatchDiscriminator(1)
    x = torch.rand(1, 1, size, size, requires_grad=True)
    logits = d(x)[0][0]
    i = logits.shape[2] // 2
    logits[0, 0, i, i].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    # logit i's field starts at 4 i - 1 - 1 - 4 (stride 4, padding 1 + 2 + 4 x 2 at its layers)
    start = 4 * i - 11
    want = torch.arange(max(start, 0), min(start + receptive_field(), size))
    assert torch.equal(rows, want)


def test_tiny_images_are_padded_to_one_logit():
    torch.manual_seed(0)
    logits, features = PatchDiscriminator(1)(torch.rand(3, 1, 5, 7))[0]
    assert logits.shape == (3, 1, 1, 1) and features[0].shape[2:] == (6, 6)


def test_judgements_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    d = PatchDiscriminator(3).eval()  # eval: no power-iteration update between the calls
    x = torch.rand(4, 3, 32, 32)
    whole = d(x)[0][0]
    alone = torch.cat([d(x[i : i + 1])[0][0] for i in range(4)])
    torch.testing.assert_close(alone, whole)


def test_spectral_norm_bounds_each_convolution():
    """After power iterations (one per training-mode call), every conv's weight, reshaped to
    (out, in x 4 x 4), has largest singular value 1."""
    torch.manual_seed(0)
    d = PatchDiscriminator(1)
    with torch.no_grad():
        first = [torch.linalg.matrix_norm(c.weight.flatten(1), ord=2) for c in d.convs]
        for _ in range(300):  # a random init's top singular values lie close: slow to part
            d(torch.rand(1, 1, 12, 12))
        for conv in [*d.convs, d.out]:
            sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
            assert float(sigma) == pytest.approx(1.0, abs=1e-4)
    assert max(float(s) for s in first) > 1.01  # one estimate: not yet exact


def test_hinge_losses_on_logit_maps_by_hand():
    real = [(torch.tensor([[[[2.0, 0.0], [0.5, -1.0]]]]), [])]
    fake = [(torch.tensor([[[[-3.0, 1.0], [0.0, 0.5]]]]), [])]
    # real: relu(1 - [2, 0, .5, -1]) = [0, 1, .5, 2] -> .875; fake: relu(1 + f) = [0, 2, 1, 1.5]
    assert float(discriminator_loss(real, fake)) == pytest.approx(0.875 + 1.125)
    assert float(generator_loss(fake)) == pytest.approx((4 + 0 + 1 + 0.5) / 4)


def test_the_signal_picks_the_discriminator():
    quantizer = QuantizerConfig(kind="vq", codebook_size=16, code_dim=8)
    image = build_discriminator(VQVAEConfig(in_channels=3, quantizer=quantizer))
    assert isinstance(image, PatchDiscriminator) and image.convs[0].in_channels == 3
    audio = VQVAEConfig(modality="audio", sample_rate=8000, strides=(2, 5), quantizer=quantizer)
    assert isinstance(build_discriminator(audio), MultiScaleSTFTDiscriminator)

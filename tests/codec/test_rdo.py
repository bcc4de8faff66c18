"""Rate-distortion optimised code choice (vqvae.codec.rdo, ``compress --rd-lambda``)."""

import math

import numpy as np
import pytest
import torch
from toy_entropy_models import LeftNeighbour

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.codec import (
    Codec,
    StaticEntropyModel,
    compress,
    decompress_indices,
    information_bits,
)
from vqvae.codec.rdo import choose_codes
from vqvae.errors import DataError
from vqvae.quantizers import build_quantizer


@pytest.mark.parametrize("kind", ["vq", "ema", "cosine"])
def test_code_distances_match_brute_force(kind):
    torch.manual_seed(0)
    options = {"lookup_dim": 3} if kind == "cosine" else {}
    q = build_quantizer(QuantizerConfig(kind=kind, codebook_size=12, code_dim=5, options=options))
    q.eval()
    z = torch.randn(2, 5, 3, 4)
    d = q.code_distances(z)  # (2, 3, 4, 12)
    vectors = q._project_in(z.permute(0, 2, 3, 1).reshape(-1, 5))
    brute = ((vectors[:, None, :] - q._lookup_codebook()[None]) ** 2).sum(-1)
    torch.testing.assert_close(d.reshape(-1, 12), brute, atol=1e-5, rtol=1e-5)
    assert torch.equal(d.argmin(-1), q(z).indices)  # the nearest code is the quantizer's


def test_lambda_zero_gives_the_nearest_codes_and_static_bits_add_a_bias():
    torch.manual_seed(1)
    distances = torch.rand(4, 5, 8)
    counts = np.array([50, 20, 10, 5, 5, 5, 3, 2])
    model = StaticEntropyModel(counts)
    assert torch.equal(choose_codes(distances, model, 0.0), distances.argmin(-1))
    bits = torch.from_numpy(16 - np.log2(model.table.astype(np.float64)))
    for lam in (0.01, 0.1, 1.0):
        expected = (distances.double() + lam * bits).argmin(-1)
        assert torch.equal(choose_codes(distances, model, lam), expected)
    with pytest.raises(ValueError):
        choose_codes(distances, model, -1.0)
    with pytest.raises(ValueError):
        choose_codes(distances[..., :4], model, 0.1)


def test_context_model_choice_by_hand():
    # position 0: code 1 (distance 0); position 1: code 2 at 0.0, code 1 at 0.5, others far.
    distances = torch.full((1, 2, 8), 9.0)
    distances[0, 0, 1] = 0.0
    distances[0, 1, 2], distances[0, 1, 1] = 0.0, 0.5
    # after code 1 the table gives code 1 about 1/1.14 and code 2 about 0.02/1.14:
    # 0.19 vs 5.83 bits, so code 1 wins once 0.5 < lambda * 5.64, i.e. lambda > 0.089
    low = choose_codes(distances, LeftNeighbour(), 0.05)
    high = choose_codes(distances, LeftNeighbour(), 0.2)
    assert low.tolist() == [[1, 2]] and high.tolist() == [[1, 1]]
    assert math.isclose(16 - math.log2(int(0.02 / 1.14 * 2**16)), 5.83, abs_tol=0.01)


def _tiny(kind="ema", options=None) -> VQVAE:
    torch.manual_seed(0)
    config = VQVAEConfig(
        hidden_channels=8,
        res_channels=4,
        num_res_blocks=1,
        quantizer=QuantizerConfig(kind=kind, codebook_size=16, code_dim=4, options=options or {}),
    )
    return VQVAE(config).eval()


def _image(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 28, 28, generator=g) * 255).to(torch.uint8)


def test_compress_with_rd_lambda_round_trips_and_spends_fewer_bits():
    model = _tiny()
    images = [_image(s) for s in range(6)]
    with torch.no_grad():  # codes on real latents, so that many are used
        z = torch.cat([model.encode_latents(x[None].float() / 255) for x in images])
        rows = z.permute(0, 2, 3, 1).reshape(-1, 4)
        model.quantizer.codebook.copy_(rows[torch.randperm(len(rows))[:16]])
        scale = float(model.quantizer.code_distances(z).min(-1).values.mean())  # per bit
    counts = sum(
        torch.bincount(model.encode(x[None].float() / 255).flatten(), minlength=16) for x in images
    )
    codec = Codec(model, StaticEntropyModel(counts.numpy() + 1))
    bits = {}
    for lam in (None, 0.0, 0.3 * scale, 3 * scale):
        total = 0.0
        for x in images:
            blob = compress(codec, x, rd_lambda=lam)
            _, decoded = decompress_indices(blob, codec)
            z = model.encode_latents(x[None].float() / 255)
            expected = (
                model.encode(x[None].float() / 255)[0]
                if lam is None
                else choose_codes(model.quantizer.code_distances(z)[0], codec.entropy_model, lam)
            )
            assert torch.equal(decoded, expected)
            total += information_bits(decoded, codec.entropy_model)
        bits[lam] = total
    assert bits[0.0] == bits[None]  # no rate weight in this model: nearest codes either way
    assert bits[3 * scale] < bits[0.3 * scale] < bits[0.0]


def test_rd_lambda_needs_a_single_codebook_quantizer():
    model = _tiny("rvq", {"num_stages": 2})
    with pytest.raises(DataError, match="single-codebook"):
        compress(Codec(model, None), _image(0), rd_lambda=0.1)

"""Integer frequency tables and the range coder (vqvae.codec.entropy)."""

import numpy as np
import pytest
import torch
from toy_entropy_models import Cheater, Column, LeftNeighbour

from vqvae.codec import entropy
from vqvae.codec.entropy import (
    PRECISION,
    StaticEntropyModel,
    check_consistency,
    information_bits,
    quantize_pmf,
)


def test_quantize_pmf_sums_and_floor():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(300, 0.05), size=50)  # very skewed rows, many near-zero
    probs[0] = 0.0  # an all-zero row becomes uniform
    probs[1, :] = 0.0
    probs[1, 7] = 1.0  # a one-hot row keeps every other symbol codable
    freqs = quantize_pmf(probs)
    assert freqs.dtype == np.int64 and freqs.shape == (50, 300)
    assert np.all(freqs.sum(1) == 1 << PRECISION)
    assert freqs.min() >= 1
    # uniform row: floor((2**16 - 300) / 300) + 1 = 218 each, the 136 left over go to symbol 0
    assert np.all(freqs[0, 1:] == 218) and freqs[0, 0] == 218 + 136
    assert freqs[1, 7] == (1 << PRECISION) - 299 and np.all(np.delete(freqs[1], 7) == 1)


def test_quantize_pmf_is_the_same_for_float32_torch_and_numpy():
    p = torch.rand(20, 64)
    assert np.array_equal(quantize_pmf(p), quantize_pmf(p.numpy()))
    assert np.array_equal(quantize_pmf(p), quantize_pmf(p.double()))


def test_quantize_pmf_rejects_bad_input():
    with pytest.raises(ValueError):
        quantize_pmf(np.array([0.5, np.nan]))
    with pytest.raises(ValueError):
        quantize_pmf(np.array([0.5, -0.1]))
    with pytest.raises(ValueError):
        quantize_pmf(np.ones(1))


@pytest.mark.parametrize("skew", [0.0, 1.2, 3.0])
def test_coder_round_trip_and_size_matches_information(skew):
    rng = np.random.default_rng(1)
    k = 64
    weights = 1.0 / np.arange(1, k + 1) ** skew
    model = StaticEntropyModel(np.round(weights / weights.sum() * 1e6))
    symbols = torch.from_numpy(rng.choice(k, size=(64, 64), p=weights / weights.sum()))
    payload = entropy.encode(symbols, model)
    assert torch.equal(entropy.decode(payload, (64, 64), model), symbols)
    ideal = information_bits(symbols, model)
    # the coder wastes < 1% (plus the last word's flush) over sum(-log2 p)
    assert len(payload) * 8 <= ideal * 1.01 + 64
    assert len(payload) * 8 >= ideal - 1


def test_every_symbol_codable_even_if_never_seen():
    counts = np.zeros(32)
    counts[3] = 1000
    model = StaticEntropyModel(counts)
    symbols = torch.arange(32).view(4, 8)
    assert torch.equal(entropy.decode(entropy.encode(symbols, model), (4, 8), model), symbols)


def test_decoder_rejects_leftover_words():
    model = StaticEntropyModel(np.ones(16))
    payload = entropy.encode(torch.zeros(2, 2, dtype=torch.long), model)
    with pytest.raises(entropy.CodingError):
        entropy.decode(payload + b"\x01\x02\x03\x04" * 4, (2, 2), model)
    with pytest.raises(entropy.CodingError):
        entropy.decode(payload[:-1], (2, 2), model)


def test_a_context_model_plugs_into_the_same_coder():
    model = LeftNeighbour()
    indices = torch.tensor([[1, 1, 1, 1, 5], [5, 5, 2, 2, 2], [2, 2, 2, 2, 7]])
    check_consistency(model, indices)
    payload = entropy.encode(indices, model)
    assert torch.equal(entropy.decode(payload, (3, 5), model), indices)
    assert information_bits(indices, model) < information_bits(
        indices, StaticEntropyModel(np.ones(8))
    )


def test_check_consistency_catches_a_model_that_peeks():
    indices = torch.tensor([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(AssertionError):
        check_consistency(Cheater(), indices)


def test_a_model_chooses_its_coding_order():
    model = Column()
    indices = torch.tensor([[1, 1, 1, 1], [5, 5, 5, 2], [2, 2, 7, 7]])
    check_consistency(model, indices)
    payload = entropy.encode(indices, model)
    assert torch.equal(entropy.decode(payload, (3, 4), model), indices)
    assert information_bits(indices, model) < information_bits(
        indices, StaticEntropyModel(np.ones(8))
    )


def test_a_schedule_must_cover_every_position_once():
    class Broken(Column):
        def schedule(self, shape):
            return [np.array([0, 1, 1])]

    with pytest.raises(ValueError, match="exactly once"):
        entropy.encode(torch.zeros(1, 3, dtype=torch.int64), Broken())

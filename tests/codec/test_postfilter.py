"""The speech decoder's postfilter: spectral sharpening against hand-computed tone ratios."""

from __future__ import annotations

import numpy as np
import pytest

from vqvae.codec.postfilter import MAX_SHARPENING, check_exponent, sharpen, window_length

RATE = 8000


def tones(amplitudes: dict[float, float], seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(a * np.sin(2 * np.pi * f * t) for f, a in amplitudes.items()).astype(np.float32)


def amplitude(x: np.ndarray, frequency: float) -> float:
    """The amplitude of a sine of ``frequency`` in the middle half of ``x`` (a whole number of
    its periods there: no leakage)."""
    middle = x[len(x) // 4 : 3 * len(x) // 4]
    t = np.arange(len(middle)) / RATE
    return 2 * abs(np.mean(middle * np.exp(-2j * np.pi * frequency * t)))


def test_exponent_one_is_the_identity():
    x = tones({440.0: 0.3})
    assert sharpen(x, RATE, 1.0) is x


def test_the_window_is_about_64_ms():
    assert window_length(8000) == 512
    assert window_length(16000) == 1024


@pytest.mark.parametrize("exponent", [1.4, 2.0])
def test_two_tones_come_out_in_the_ratio_raised_to_the_exponent(exponent):
    # 500 and 1500 Hz lie on bins of a 512-point FFT at 8 kHz, far enough apart that their
    # main lobes never meet: each tone's spectrum is raised to the power alike
    x = tones({500.0: 0.4, 1500.0: 0.1})
    y = sharpen(x, RATE, exponent)
    ratio = amplitude(y, 500.0) / amplitude(y, 1500.0)
    assert ratio == pytest.approx(4.0**exponent, rel=0.02)


def test_each_frame_keeps_its_energy():
    x = tones({300.0: 0.3, 1200.0: 0.2, 2500.0: 0.05})
    y = sharpen(x, RATE, 1.4)
    middle = slice(len(x) // 4, 3 * len(x) // 4)
    assert np.sqrt(np.mean(y[middle] ** 2)) == pytest.approx(
        np.sqrt(np.mean(x[middle] ** 2)), rel=0.02
    )
    assert y.dtype == np.float32 and y.shape == x.shape


def test_a_single_tone_is_left_as_it_is():
    x = tones({1000.0: 0.5})
    middle = slice(len(x) // 4, 3 * len(x) // 4)
    assert np.allclose(sharpen(x, RATE, 1.4)[middle], x[middle], atol=0.01)


def test_silence_and_tiny_inputs_pass():
    assert np.array_equal(sharpen(np.zeros(4000, np.float32), RATE, 1.4), np.zeros(4000))
    for n in (0, 1, 7, 300):
        assert sharpen(np.full(n, 0.1, np.float32), RATE, 1.4).shape == (n,)


@pytest.mark.parametrize("bad", [0.5, 0.0, -1.0, MAX_SHARPENING + 0.1, float("nan")])
def test_exponents_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match="postfilter exponent"):
        check_exponent(bad)

"""Audio metrics against references: closed forms, scipy's STFT, the pesq and pystoi packages."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from vqvae.metrics import audio as am

RATE = 8000


def voiced(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A speech-like signal: harmonics of a gliding 100-160 Hz pitch under a 4 Hz syllable
    envelope, with a little noise (PESQ finds utterances in it)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 130 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = np.clip(np.sin(2 * np.pi * 2 * t), 0, None) ** 2
    x = 0.3 * x * envelope + 0.003 * rng.standard_normal(len(t))
    return x / np.abs(x).max() * 0.7


def test_snr_closed_form():
    x = voiced()
    assert am.snr(x, 1.1 * x) == pytest.approx(20.0, abs=1e-9)  # error energy 1/100 of x's
    assert am.snr(x, 0.5 * x) == pytest.approx(20 * math.log10(2), abs=1e-9)
    assert am.snr(x, x) == math.inf
    assert am.snr(torch.from_numpy(x).float(), torch.from_numpy(1.1 * x).float()) == pytest.approx(
        20.0, abs=1e-4
    )


def test_length_and_shape_errors():
    with pytest.raises(ValueError, match="length"):
        am.snr(np.ones(10), np.ones(11))
    with pytest.raises(ValueError, match="mono"):
        am.snr(np.ones((2, 10)), np.ones((2, 10)))
    with pytest.raises(ValueError, match="empty"):
        am.log_spectral_distance(np.ones(0), np.ones(0))


def test_lsd_against_scipy_stft():
    from scipy.signal import stft

    rng = np.random.default_rng(1)
    x = voiced()
    y = x + 0.02 * rng.standard_normal(len(x))

    def reference(a, b, n_fft=256, hop=64):  # scipy's STFT, an independent framing
        _, _, sa = stft(a, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary=None)
        _, _, sb = stft(b, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary=None)
        la = 10 * np.log10(np.maximum(np.abs(sa) ** 2, 1e-30))
        lb = 10 * np.log10(np.maximum(np.abs(sb) ** 2, 1e-30))
        return float(np.mean(np.sqrt(np.mean((la - lb) ** 2, axis=0))))

    assert am.log_spectral_distance(x, y) == pytest.approx(reference(x, y), rel=1e-6)
    assert am.log_spectral_distance(x, x) == 0.0
    noise = rng.standard_normal(4000)  # no spectral holes: scaling shifts every bin equally
    assert am.log_spectral_distance(noise, 2 * noise) == pytest.approx(20 * math.log10(2))
    assert am.log_spectral_distance(x, y) < am.log_spectral_distance(x, x + 10 * (y - x))


def test_pesq_nb_matches_the_package_and_orders_noise():
    from pesq import pesq

    rng = np.random.default_rng(2)
    x = voiced()
    noisy = [x + s * rng.standard_normal(len(x)) for s in (0.003, 0.03, 0.1)]
    scores = [am.pesq_nb(x, y) for y in noisy]
    assert scores[0] == pytest.approx(pesq(RATE, x, noisy[0], "nb"), abs=1e-6)
    assert scores[0] > scores[1] > scores[2]
    assert am.pesq_nb(x, x) > 4.4  # the top of the MOS-LQO scale is 4.55
    assert math.isnan(am.pesq_nb(np.zeros(RATE), np.zeros(RATE)))  # no speech: NaN, not a raise
    assert math.isnan(am.pesq_nb(x[:1600], x[:1600]))  # 0.2 s: under PESQ's 0.25 s


def test_pesq_resamples_other_rates():
    from scipy.signal import resample_poly

    x = voiced()
    y = x + 0.03 * np.random.default_rng(3).standard_normal(len(x))
    up_x, up_y = resample_poly(x, 2, 1), resample_poly(y, 2, 1)
    assert am.pesq_nb(up_x, up_y, sample_rate=16000) == pytest.approx(am.pesq_nb(x, y), abs=0.05)


def test_stoi_matches_pystoi():
    from pystoi import stoi

    rng = np.random.default_rng(4)
    x = voiced(3.0)
    y = x + 0.2 * rng.standard_normal(len(x))
    assert am.stoi(x, y) == pytest.approx(stoi(x, y, RATE), abs=1e-9)
    assert am.stoi(x, x) == pytest.approx(1.0, abs=1e-6)
    assert am.stoi(x, y) < 0.99


def test_bits_per_second_and_audio_metrics():
    assert am.bits_per_second(1000, 8000, 8000) == 8000.0
    assert am.bits_per_second(300, 16000, 8000) == 1200.0
    with pytest.raises(ValueError):
        am.bits_per_second(10, 0, 8000)
    x = voiced()
    y = np.concatenate([0.9 * x, np.zeros(100)])  # a decoder's tail is cut off
    m = am.audio_metrics(x, y, RATE, num_bytes=2000)
    assert m["snr"] == pytest.approx(20.0, abs=1e-9)
    assert m["bps"] == pytest.approx(8 * 2000 / 2.0)
    assert set(m) == {"snr", "lsd", "pesq", "stoi", "bps"}


def test_fsdd_clip(shared_data):
    sf = pytest.importorskip("soundfile")
    x, rate = sf.read(shared_data / "fsdd" / "recordings" / "7_jackson_0.wav")
    assert rate == RATE
    y = x + 0.01 * np.random.default_rng(5).standard_normal(len(x))
    assert 1.0 < am.pesq_nb(x, y) < 4.55
    assert 0.5 < am.stoi(x, y) <= 1.0


def test_import_vqvae_stays_light():
    code = "import sys, vqvae, vqvae.metrics; print(sorted({'pesq','pystoi'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

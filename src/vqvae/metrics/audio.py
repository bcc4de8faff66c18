"""Speech-quality and rate metrics for audio: SNR, log-spectral distance, PESQ-NB, STOI, bit/s.

Signals are 1-D float arrays (numpy or torch) of samples in [-1, 1] at ``sample_rate`` Hz; the
reference comes first, the decoded (degraded) signal second. ``pesq`` and ``pystoi`` (the
``audio`` extra) are imported only when their metric is asked for, so ``import vqvae.metrics``
stays light.
"""

from __future__ import annotations

import math

import numpy as np

PESQ_RATE = 8000  # PESQ narrow-band (ITU-T P.862 with the P.862.1 MOS-LQO mapping) runs at 8 kHz
_EPS = 1e-10  # power floor of the log spectra: -100 dB, far below 16-bit quantization noise


def _as_array(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        a = a.squeeze()
    if a.ndim != 1:
        raise ValueError(f"expected a mono signal (1-D), got shape {np.shape(x)}")
    return a


def _pair(reference, decoded) -> tuple[np.ndarray, np.ndarray]:
    ref, deg = _as_array(reference), _as_array(decoded)
    if len(ref) != len(deg):
        raise ValueError(f"signals differ in length: {len(ref)} and {len(deg)} samples")
    if len(ref) == 0:
        raise ValueError("empty signal")
    return ref, deg


def snr(reference, decoded) -> float:
    """Signal-to-noise ratio in dB: ``10 log10(sum x^2 / sum (x - x_hat)^2)``.

    inf for identical signals; the error energy is floored at 1e-20 (so 200 dB above a
    unit-energy reference is the largest finite value).
    """
    ref, deg = _pair(reference, decoded)
    noise = float(np.sum((ref - deg) ** 2))
    if noise == 0.0:
        return math.inf
    return 10 * math.log10(max(float(np.sum(ref**2)), 1e-20) / max(noise, 1e-20))


def _power_spectrogram(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT|^2 with a periodic Hann window, frames of ``n_fft`` every ``hop`` samples,
    the signal zero-padded to whole frames: (frames, n_fft // 2 + 1)."""
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = 1 + math.ceil((len(x) - n_fft) / hop)
    x = np.pad(x, (0, (frames - 1) * hop + n_fft - len(x)))
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    return np.abs(np.fft.rfft(x[index] * window, axis=1)) ** 2


def log_spectral_distance(reference, decoded, n_fft: int = 256, hop: int = 64) -> float:
    """Log-spectral distance in dB: per frame, the RMS over frequency of the difference of
    the two power spectra in dB (``10 log10 |X|^2``), averaged over frames.

    Frames of ``n_fft`` samples (32 ms at 8 kHz) every ``hop``, periodic Hann window; powers
    are floored at 1e-10 (-100 dB). 0 for identical signals; ``20 log10 a`` for a signal
    scaled by ``a``.
    """
    ref, deg = _pair(reference, decoded)
    if n_fft < 2 or hop < 1:
        raise ValueError(f"need n_fft >= 2 and hop >= 1, got {n_fft} and {hop}")
    p_ref = 10 * np.log10(np.maximum(_power_spectrogram(ref, n_fft, hop), _EPS))
    p_deg = 10 * np.log10(np.maximum(_power_spectrogram(deg, n_fft, hop), _EPS))
    return float(np.mean(np.sqrt(np.mean((p_ref - p_deg) ** 2, axis=1))))


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x
    from scipy.signal import resample_poly  # scipy comes with pystoi (the audio extra)

    g = math.gcd(rate, target)
    return resample_poly(x, target // g, rate // g)


def pesq_nb(reference, decoded, sample_rate: int = PESQ_RATE) -> float:
    """PESQ narrow-band MOS-LQO (ITU-T P.862 + P.862.1, the ``pesq`` package, mode 'nb'),
    from about 1.0 (bad) to 4.55 (identical).

    Signals at another rate are resampled to 8 kHz first. PESQ aligns the two signals in
    time itself, so a codec's delay does not count against it.

    Returns:
        The score, or NaN where PESQ gives none (no speech found, or a signal under the
        0.25 s it needs), so that averages over a dataset can skip it (``np.nanmean``).
    """
    from pesq import BufferTooShortError, NoUtterancesError, pesq

    ref, deg = _pair(reference, decoded)
    ref, deg = _resample(ref, sample_rate, PESQ_RATE), _resample(deg, sample_rate, PESQ_RATE)
    if not np.any(ref) or not np.any(deg):
        return math.nan
    try:
        return float(pesq(PESQ_RATE, ref, deg, "nb"))
    except (NoUtterancesError, BufferTooShortError):
        return math.nan


def stoi(reference, decoded, sample_rate: int = PESQ_RATE) -> float:
    """Short-time objective intelligibility (Taal et al. 2011; the ``pystoi`` package, not
    the extended variant), from 0 to 1 (identical). ``pystoi`` resamples to 10 kHz itself."""
    from pystoi import stoi as _stoi

    ref, deg = _pair(reference, decoded)
    return float(_stoi(ref, deg, sample_rate, extended=False))


def bits_per_second(num_bytes: int, num_samples: int, sample_rate: int) -> float:
    """Rate of ``num_bytes`` spent on ``num_samples`` samples at ``sample_rate`` Hz, in bit/s."""
    if num_samples <= 0 or sample_rate <= 0:
        raise ValueError(f"need positive samples and rate, got {num_samples} and {sample_rate}")
    return 8 * num_bytes * sample_rate / num_samples


def audio_metrics(reference, decoded, sample_rate: int, num_bytes: int | None = None) -> dict:
    """All the metrics of one decoded signal (the longer signal is cut to the shorter).

    Returns:
        snr (dB), lsd (dB), pesq (NaN where PESQ gives none), stoi, and bps (bit/s, only
        when ``num_bytes`` is given: the coded size of the reference's length).
    """
    ref, deg = _as_array(reference), _as_array(decoded)
    n = min(len(ref), len(deg))
    ref, deg = ref[:n], deg[:n]
    out = {
        "snr": snr(ref, deg),
        "lsd": log_spectral_distance(ref, deg),
        "pesq": pesq_nb(ref, deg, sample_rate),
        "stoi": stoi(ref, deg, sample_rate),
    }
    if num_bytes is not None:
        out["bps"] = bits_per_second(num_bytes, len(_as_array(reference)), sample_rate)
    return out

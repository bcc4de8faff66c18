"""Audio files: reading WAV/FLAC (and whatever else libsndfile reads) as mono float32 in
[-1, 1] at a chosen sample rate, and writing 16-bit WAV atomically.

Only mono files of 16-, 24- or 32-bit PCM or 32/64-bit float samples are read: a
multi-channel file is refused rather than silently downmixed (the caller decides how to mix),
and so are 8-bit and companded (u-law, A-law, ADPCM, ...) files. Resampling uses a polyphase
FIR filter (``scipy.signal.resample_poly``, Kaiser window) and says so in one line on stderr.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

from .. import progress
from ..checkpoint import atomic_write
from ..errors import DataError
from ..limits import MAX_AUDIO_SECONDS, check_audio_seconds

AUDIO_EXTENSIONS = (".flac", ".wav")
"""File extensions an audio folder is recognised by (``--dataset PATH``)."""

SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
"""libsndfile sample formats ``read_audio`` accepts."""

MIN_RATE, MAX_RATE = 1_000, 384_000


def read_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
) -> tuple[np.ndarray, int]:
    """Read a mono audio file as float32 samples in [-1, 1].

    Args:
        path: a WAV, FLAC, ... file (anything libsndfile reads).
        sample_rate: resample to this rate when the file's differs (one line on stderr says
            so); None keeps the file's rate.
        max_seconds: refuse files longer than this (checked from the header); None: no limit.

    Returns:
        (samples (T,) float32, rate): rate is ``sample_rate`` when given.

    Raises:
        DataError (one line) for a missing, empty, non-audio, multi-channel, too long file or
        an unsupported sample format.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not an audio file")
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        if path.exists() and path.stat().st_size == 0:
            raise DataError(f"{path}: empty file") from None
        reason = str(exc).split(":")[-1].strip() if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a readable audio file ({reason})") from None
    with handle:
        rate, channels, frames, subtype = (
            handle.samplerate,
            handle.channels,
            handle.frames,
            handle.subtype,
        )
        if subtype not in SUBTYPES:
            raise DataError(
                f"{path}: unsupported sample format {subtype} (expected 16-, 24- or 32-bit PCM "
                "or float samples)"
            )
        if channels != 1:
            raise DataError(
                f"{path}: has {channels} channels; only mono audio is read (mix it down first, "
                "e.g. sox in.wav -c 1 out.wav)"
            )
        if not MIN_RATE <= rate <= MAX_RATE:
            raise DataError(f"{path}: sample rate {rate} Hz is out of range")
        if frames <= 0:
            raise DataError(f"{path}: empty audio (no samples)")
        check_audio_seconds(frames, rate, max_seconds, str(path), DataError)
        try:
            samples = handle.read(frames, dtype="float32", always_2d=False)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise DataError(f"{path}: corrupt audio data ({exc})") from None
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        raise DataError(f"{path}: empty audio (no samples)")
    if not np.isfinite(samples).all():
        raise DataError(f"{path}: holds samples that are not finite numbers")
    np.clip(samples, -1.0, 1.0, out=samples)
    if sample_rate is not None and sample_rate != rate:
        samples = resample(samples, rate, sample_rate)
        if not progress.is_quiet():
            print(f"vqvae: resampled {path} from {rate} Hz to {sample_rate} Hz", file=sys.stderr)
        rate = sample_rate
    return samples, rate


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """``samples`` (T,) at ``rate`` Hz -> float32 (ceil(T * new_rate / rate),) at ``new_rate``
    Hz, by polyphase filtering (band-limited to the lower of the two Nyquist frequencies)."""
    from scipy.signal import resample_poly

    for name, value in (("rate", rate), ("new_rate", new_rate)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if rate == new_rate:
        return np.asarray(samples, dtype=np.float32)
    g = math.gcd(rate, new_rate)
    out = resample_poly(np.asarray(samples, dtype=np.float64), new_rate // g, rate // g)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def write_audio(path: str | os.PathLike, samples, rate: int) -> None:
    """Write mono ``samples`` ((T,) or (1, T); numpy or torch; floats in [-1, 1], clipped) as a
    16-bit PCM WAV file at ``rate`` Hz, atomically."""
    import soundfile as sf

    if hasattr(samples, "detach"):
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 2 and samples.shape[0] == 1:
        samples = samples[0]
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (T,) or (1, T), got shape {samples.shape}")
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"rate must be an integer in [{MIN_RATE}, {MAX_RATE}], got {rate!r}")
    # the scale libsndfile reads 16-bit PCM with (k / 32768): 16-bit input round-trips exactly
    pcm = np.clip(np.round(np.nan_to_num(samples) * 32768.0), -32768, 32767).astype(np.int16)
    atomic_write(path, lambda tmp: sf.write(tmp, pcm, rate, subtype="PCM_16", format="WAV"))


def sample_rate_of(path: str | os.PathLike) -> int:
    """The sample rate of an audio file, from its header.

    Raises:
        DataError: (one line, as ``read_audio`` gives) a file it cannot read.
    """
    import soundfile as sf

    try:
        return int(sf.info(str(path)).samplerate)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return read_audio(path)[1]  # raises its one-line error

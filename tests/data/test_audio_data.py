"""Audio files: read_audio / write_audio / resample, and one-line errors on bad input."""

import numpy as np
import pytest
import soundfile as sf

from vqvae.data.audio import read_audio, resample, write_audio
from vqvae.errors import DataError


def _sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def test_write_read_round_trip_is_exact_for_16_bit(tmp_path):
    pcm = np.random.default_rng(0).integers(-32768, 32768, 1001).astype(np.int16)
    write_audio(tmp_path / "a.wav", pcm.astype(np.float32) / 32768, 8000)
    samples, rate = read_audio(tmp_path / "a.wav")
    assert rate == 8000 and samples.dtype == np.float32
    assert np.array_equal(np.round(samples * 32768).astype(np.int16), pcm)
    assert sf.info(str(tmp_path / "a.wav")).subtype == "PCM_16"


def test_resampling_keeps_frequency_and_amplitude(tmp_path, capsys, monkeypatch):
    sf.write(str(tmp_path / "s.wav"), _sine(440.0, 16000, 1.0), 16000, subtype="PCM_24")
    monkeypatch.setattr("vqvae.progress._quiet", False)
    samples, rate = read_audio(tmp_path / "s.wav", sample_rate=8000)
    assert rate == 8000 and len(samples) == 8000
    assert capsys.readouterr().err.strip() == (
        f"vqvae: resampled {tmp_path / 's.wav'} from 16000 Hz to 8000 Hz"
    )
    assert abs(_peak_frequency(samples, 8000) - 440.0) <= 1.0
    middle = samples[1000:-1000]  # away from the filter's edge effects
    assert np.sqrt(2 * np.mean(middle**2)) == pytest.approx(0.5, rel=1e-3)
    # a tone above the new Nyquist frequency is filtered out, not aliased
    high = resample(_sine(5000.0, 16000, 1.0), 16000, 8000)
    assert np.sqrt(np.mean(high[1000:-1000] ** 2)) < 0.01
    # 44.1 kHz -> 8 kHz (ratio 80/441)
    out = resample(_sine(1000.0, 44100, 0.5), 44100, 8000)
    assert len(out) == 4000 and abs(_peak_frequency(out, 8000) - 1000.0) <= 2.0


def test_float_files_are_read_and_clipped(tmp_path):
    sf.write(str(tmp_path / "f.wav"), np.array([0.25, -2.0, 3.0], np.float32), 8000, "FLOAT")
    samples, _ = read_audio(tmp_path / "f.wav")
    assert samples.tolist() == [0.25, -1.0, 1.0]


def _bad_inputs(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio\n" * 10)
    sf.write(str(tmp_path / "u8.wav"), np.zeros(100), 8000, subtype="PCM_U8")
    sf.write(str(tmp_path / "ulaw.wav"), np.zeros(100), 8000, subtype="ULAW")
    sf.write(str(tmp_path / "stereo.wav"), np.zeros((100, 2)), 8000, subtype="PCM_16")
    sf.write(str(tmp_path / "nothing.wav"), np.zeros((0,)), 8000, subtype="PCM_16")
    return {
        "empty.wav": "empty file",
        "text.wav": "not a readable audio file",
        "u8.wav": "unsupported sample format PCM_U8",
        "ulaw.wav": "unsupported sample format ULAW",
        "stereo.wav": "has 2 channels",
        "nothing.wav": "empty audio",
        "missing.wav": "no such file",
    }


def test_bad_files_give_one_line_errors(tmp_path):
    for name, message in _bad_inputs(tmp_path).items():
        with pytest.raises(DataError) as info:
            read_audio(tmp_path / name)
        assert message in str(info.value) and "\n" not in str(info.value), name


def test_too_long_is_refused_from_the_header(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(str(path), np.zeros(8000 * 3, np.int16), 8000, subtype="PCM_16")
    with pytest.raises(DataError, match="3.0 s long, over the limit of 2 s"):
        read_audio(path, max_seconds=2)

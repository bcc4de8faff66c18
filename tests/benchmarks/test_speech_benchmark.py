"""benchmarks/speech.py's parts: the missing-tool message, Opus payload from Ogg pages, Codec2
rates, the test files cut at clip boundaries."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import speech  # noqa: E402


def test_missing_tools_name_the_debian_packages(capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert speech.main([]) == 2
    err = capsys.readouterr().err
    assert "sudo apt-get install codec2 opus-tools" in err and err.count("\n") == 1


def _tone(seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * speech.RATE)) / speech.RATE
    return (0.3 * np.sin(2 * np.pi * 200 * t) * np.sin(2 * np.pi * 2 * t)).astype(np.float32)


@pytest.mark.skipif(shutil.which("opusenc") is None, reason="opus-tools not installed")
def test_opus_payload_is_the_audio_packets(tmp_path):
    x = _tone()
    y, size, payload = speech.opus(x, 6, tmp_path)
    data = (tmp_path / "o.opus").read_bytes()
    packets = speech.ogg_packets(data)
    assert packets[0] == 19 and 100 <= len(packets) - 2 <= 102  # OpusHead, OpusTags, 20 ms frames
    assert payload == sum(packets[2:]) and payload < size == len(data)
    assert 4000 < 8 * payload / 2.0 < 8000  # about the 6 kbit/s asked for
    assert y.shape == x.shape


@pytest.mark.skipif(shutil.which("c2enc") is None, reason="codec2 not installed")
def test_codec2_files_are_headerless_frames(tmp_path):
    x = _tone()
    y, size, payload = speech.codec2(x, 3200, tmp_path)
    assert size == payload == 3200 * 2 // 8  # 100 frames of 64 bits
    assert y.shape == x.shape


def test_test_files_are_whole_clips_of_one_speaker(shared_data):
    from vqvae.data.audio import load_audio_dataset

    test = load_audio_dataset("fsdd", "test", shared_data)
    files = speech.test_files(test)
    assert sum(len(f.digits) for f in files) == len(test) == 300
    assert len({f.name.split("-")[0] for f in files}) == 6
    for f in files:
        assert f.bounds[0][0] == 0 and f.bounds[-1][1] == len(f.samples)
        assert all(a[1] == b[0] for a, b in zip(f.bounds, f.bounds[1:], strict=False))
        assert 5 * speech.RATE <= len(f.samples) <= 20 * speech.RATE


def _tiny_istft_model():
    import torch

    from vqvae.config import QuantizerConfig, VQVAEConfig
    from vqvae.models import VQVAE

    torch.manual_seed(0)
    quantizer = QuantizerConfig(
        kind="rvq", codebook_size=16, code_dim=8, options={"num_stages": 2, "dropout": 0.5}
    )
    config = VQVAEConfig(
        modality="audio",
        sample_rate=8000,
        strides=(2, 5),
        hidden_channels=4,
        num_res_blocks=1,
        quantizer=quantizer,
        audio_decoder="istft",
    )
    return VQVAE(config).eval()


def test_diagnosis_swaps_are_exact_and_every_row_is_scored():
    import speech_diagnosis as diagnosis

    x, noise = _tone(1.0), np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    assert np.abs(diagnosis.swap(x, x) - x).max() < 1e-5  # its own magnitude and phase
    mixed = diagnosis.swap(x, noise)  # the tone's magnitude: its peak within a bin of 200 Hz
    assert abs(np.argmax(np.abs(np.fft.rfft(mixed))) - 200) <= 8000 / diagnosis.N_FFT
    pesq = diagnosis.diagnose(_tiny_istft_model(), [x, _tone(0.6)], [1, 2], refine_steps=3)
    assert list(pesq) == [
        "stages 1", "stages 2", "unquantized", "stages 2, refined",
        "decoded magnitude, true phase", "true magnitude, decoded phase",
    ]  # fmt: skip
    assert all(1.0 <= v <= 4.6 for v in pesq.values())


def test_the_levels_benchmark_codes_every_level_within_full_scale():
    import speech_levels

    x = _tone(2.0)
    quiet = speech_levels.at_peak(x, -40.0)
    assert 20 * np.log10(np.abs(quiet).max()) == pytest.approx(-40.0, abs=1e-4)

    class Bar:
        updates = 0

        def update(self):
            Bar.updates += 1

    scores, peak = speech_levels.code_at_levels(
        _tiny_istft_model(), [x], [-1.0, -40.0], None, Bar()
    )
    assert list(scores) == ["own", "-1.0", "-40.0"] and Bar.updates == 3
    assert all(1.0 <= v <= 4.6 for v in scores.values()) and 0.0 < peak <= 1.0


def test_the_unseen_parts_take_speakers_in_turn_and_sentences_in_order(tmp_path):
    from vqvae.media import write_audio

    files = [speech.SpeechFile(f"{who}-{n}", np.zeros(8000, np.float32), [], [])
             for who in ("nicolas", "theo") for n in range(3)]  # fmt: skip
    picked = speech._first_seconds(files, 3.0)
    assert [f.name for f in picked] == ["nicolas-0", "theo-0", "nicolas-1", "theo-1"]
    for n in range(4):
        write_audio(tmp_path / f"heldout_{n:05d}.wav", np.zeros(16000, np.float32), 8000)
    sentences = speech.synthetic_files(tmp_path, 3.0)
    assert [f.name for f in sentences] == ["heldout_00000", "heldout_00001"]
    assert not sentences[0].digits  # no digits to classify: accuracy is null


def test_rows_without_a_measure_are_null_in_the_json():
    assert speech._number(float("nan")) is None and speech._number(1.23456) == 1.2346
    assert speech.trained_speakers("fsdd") == "fsdd"  # the shipped model heard all six

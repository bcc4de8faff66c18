"""vqvae train / eval / reconstruct on audio: a folder of WAV files, end to end."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from vqvae.cli import main
from vqvae.codec.postfilter import postfilter
from vqvae.models import VQVAE

TINY = [
    "--hidden", "4", "--res-blocks", "1", "--codebook-size", "16", "--code-dim", "8",
    "--num-stages", "2", "--strides", "2,5", "--batch-size", "4", "--random-crop", "400",
    "--seed", "0", "--no-progress",
]  # fmt: skip


def _speechy(rng, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    pitch = rng.uniform(100, 200)
    x = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 8))
    x *= np.clip(np.sin(2 * np.pi * 2 * t), 0, None)
    return (0.2 * x / np.abs(x).max() + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        (root / "data" / split).mkdir(parents=True)
        for i in range(n):
            sf.write(str(root / "data" / split / f"{i}.wav"), _speechy(rng, 0.6, 8000), 8000)
    run = root / "run"
    args = ["train", "--dataset", str(root / "data"), "--out", str(run), "--max-steps", "3"]
    assert main([*args, *TINY]) == 0
    return root, run


def test_train_writes_an_audio_run(audio_run):
    root, run = audio_run
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["modality"] == "audio" and config["model"]["sample_rate"] == 8000
    assert config["model"]["strides"] == [2, 5] and config["model"]["quantizer"]["kind"] == "rvq"
    assert VQVAE.from_pretrained(run).modality == "audio"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"snr", "pesq", "stoi", "lsd", "bits_per_second"} <= set(records[-1])


def test_eval_reports_speech_metrics_per_stage_count(audio_run, capsys):
    _, run = audio_run
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["bits_per_second"] == pytest.approx(800 * 2 * 4) and full["stages"] == 2
    assert main(["eval", str(run), "--json", "--stages", "1"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["bits_per_second"] == pytest.approx(800 * 4) and one["stages"] == 1
    assert main(["eval", str(run), "--stages", "3"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_reconstruct_writes_wavs_resampling_other_rates(audio_run, capsys, tmp_path, monkeypatch):
    root, run = audio_run
    rng = np.random.default_rng(1)
    sf.write(str(tmp_path / "a.wav"), _speechy(rng, 0.3, 16000), 16000)
    sf.write(str(tmp_path / "b.flac"), _speechy(rng, 0.25, 8000), 8000)
    monkeypatch.setattr("vqvae.progress._quiet", False)
    out = tmp_path / "out"
    args = ["reconstruct", str(run), str(tmp_path / "a.wav"), str(tmp_path / "b.flac")]
    assert main([*args, "--out-dir", str(out), "--stages", "1"]) == 0
    captured = capsys.readouterr()
    assert "resampled" in captured.err and "from 16000 Hz to 8000 Hz" in captured.err
    assert "wrote 2 reconstructions" in captured.out and "3200 bit/s" in captured.out
    for stem, frames in (("a", 2400), ("b", 2000)):
        for kind in ("original", "reconstruction"):
            info = sf.info(str(out / f"{stem}_{kind}.wav"))
            assert (info.samplerate, info.frames, info.subtype) == (8000, frames, "PCM_16")
    # the reconstruction is what decompress gives: the decoder's output, postfiltered
    model = VQVAE.from_pretrained(run).eval()
    b, _ = sf.read(str(out / "b_original.wav"), dtype="float32")
    with torch.no_grad():
        raw = model.reconstruct(torch.from_numpy(b).view(1, 1, -1), 1)[0, 0].clamp(-1, 1).numpy()
    written, _ = sf.read(str(out / "b_reconstruction.wav"), dtype="float32")
    assert np.abs(written - postfilter(raw, 8000)).max() < 1.5 / 32768  # 16-bit rounding
    assert main([*args, "--out-dir", str(out), "--stages", "1", "--postfilter", "1", "-f"]) == 0
    written, _ = sf.read(str(out / "b_reconstruction.wav"), dtype="float32")
    assert np.abs(written - raw).max() < 1.5 / 32768


def test_bad_audio_is_one_line_exit_2(audio_run, tmp_path, capsys):
    _, run = audio_run
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEjunk")
    sf.write(str(tmp_path / "stereo.wav"), np.zeros((100, 2)), 8000)
    for name in ("bad.wav", "stereo.wav", "missing.wav"):
        capsys.readouterr()
        path = str(tmp_path / name)
        assert main(["reconstruct", str(run), path, "--out-dir", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and name in err, err
    assert not (tmp_path / "o").exists()


def test_audio_decoder_on_images_is_one_line_exit_2(tmp_path, capsys):
    args = ["train", "--out", str(tmp_path / "run"), "--max-steps", "1", "--no-progress"]
    assert main([*args, "--audio-decoder", "istft"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--audio-decoder" in err
    assert not (tmp_path / "run").exists()


def test_phase_weight_needs_audio_and_the_istft_decoder(tmp_path, capsys):
    args = ["train", "--out", str(tmp_path / "run"), "--max-steps", "1", "--no-progress"]
    assert main([*args, "--phase-weight", "0.1"]) == 2  # MNIST: an image model
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--phase-weight" in err
    assert not (tmp_path / "run").exists()

"""Analysis-by-synthesis code choice for speech (``compress_audio(refine_steps=N)``,
``vqvae compress --refine-steps N``): lower decoded loss, never higher, files that decode as
any others, no side effects on the model, windows for long sounds, bad values refused."""

import numpy as np
import pytest
import torch
from test_audio_codec import RATE, speech_like, tiny_audio_model

from vqvae.cli import main
from vqvae.codec import audio_refine, compress_audio, decompress_audio, encode_audio_indices
from vqvae.codec.audio import decode_stages
from vqvae.data.audio import write_audio
from vqvae.errors import DataError
from vqvae.models.losses import waveform_loss


@pytest.fixture(scope="module")
def model():
    return tiny_audio_model(seed=1)


def voiced_noisy(samples: int, seed: int = 0) -> np.ndarray:
    """speech_like with noise on it: codes that vary from frame to frame."""
    noise = np.random.default_rng(seed).standard_normal(samples).astype(np.float32)
    return np.clip(speech_like(samples, seed) + 0.2 * noise, -1, 1)


# The search is what these tests check: codes are made at the sound's own level.


def decoded_loss(model, x: np.ndarray, indices: torch.Tensor) -> float:
    """The training loss of the sound that ``indices`` (k, L) decode to, against x."""
    y = decode_stages(model, indices, len(x))
    return float(waveform_loss(torch.from_numpy(y), torch.from_numpy(x)))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_refined_codes_decode_closer_to_the_input(model, k):
    x = voiced_noisy(2003)
    plain = encode_audio_indices(model, x, stages=k, normalize=False)
    refined = encode_audio_indices(model, x, stages=k, refine_steps=20, normalize=False)
    assert refined.shape == plain.shape and refined.dtype == torch.int64
    assert 0 <= int(refined.min()) and int(refined.max()) < model.quantizer.codebook_size
    assert not torch.equal(refined, plain)
    assert decoded_loss(model, x, refined) < decoded_loss(model, x, plain)


def test_zero_steps_are_the_encoders_codes(model):
    x = speech_like(1500, seed=2)
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(x)[None, None])[0, :3]
    assert torch.equal(
        encode_audio_indices(model, x, stages=3, refine_steps=0, normalize=False), expected
    )


def test_the_loss_never_rises_whatever_the_step_size(model):
    # a step far too large: every search step is worse, so the encoder's codes are kept
    x = speech_like(2003, seed=3)
    plain = encode_audio_indices(model, x, stages=2, normalize=False)
    samples = torch.from_numpy(x)[None, None]
    wild = audio_refine.refine_codes(model, samples, 2, steps=5, lr=1e4)
    assert decoded_loss(model, x, wild) <= decoded_loss(model, x, plain)


def test_refined_files_decode_like_any_other_and_are_deterministic(model):
    x = speech_like(2003, seed=4)
    data = compress_audio(model, x, stages=2, refine_steps=10, normalize=False)
    assert data == compress_audio(model, x, stages=2, refine_steps=10, normalize=False)
    y, rate = decompress_audio(data, model)
    refined = encode_audio_indices(model, x, stages=2, refine_steps=10, normalize=False)
    assert rate == RATE and np.array_equal(y, decode_stages(model, refined, len(x)))


@pytest.mark.parametrize("training", [False, True])
def test_the_search_leaves_the_model_untouched(training):
    model = tiny_audio_model(seed=1).train(training)  # a model left in training mode too
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = voiced_noisy(1200)
    refined = encode_audio_indices(model, x, stages=4, refine_steps=5, normalize=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert model.training == training
    again = encode_audio_indices(model.eval(), x, stages=4, refine_steps=5, normalize=False)
    assert torch.equal(refined, again)


def test_long_sounds_are_refined_window_by_window(model, monkeypatch):
    monkeypatch.setattr(audio_refine, "CHUNK_FRAMES", 60)
    monkeypatch.setattr(audio_refine, "MARGIN_FRAMES", 4)
    x = voiced_noisy(8 * 250, seed=5)  # 250 frames: windows of 60, 60, 60, 60, 10
    plain = encode_audio_indices(model, x, stages=2, normalize=False)
    refined = encode_audio_indices(model, x, stages=2, refine_steps=15, normalize=False)
    assert refined.shape == plain.shape == (2, 250)
    for a in range(0, 250, 60):  # every window was searched
        assert not torch.equal(refined[:, a : a + 60], plain[:, a : a + 60])
    assert decoded_loss(model, x, refined) < decoded_loss(model, x, plain)


@pytest.mark.parametrize("steps", [-1, 2.5, True, "3"])
def test_bad_step_counts_are_refused(model, steps):
    with pytest.raises(DataError, match="refine_steps"):
        compress_audio(model, speech_like(100), refine_steps=steps)


def test_cli_refine_steps(capsys, tmp_path, model):
    run = tmp_path / "run"
    model.save_pretrained(run)
    wav = tmp_path / "speech.wav"
    write_audio(wav, speech_like(4000), RATE)
    out = tmp_path / "s.vqz"
    assert main(["compress", str(run), str(wav), "-o", str(out), "--refine-steps", "5"]) == 0
    assert "bit/s" in capsys.readouterr().out
    y, _ = decompress_audio(out.read_bytes(), str(run))
    assert y.shape == (4000,)
    for value, message in (
        ("-1", "must be an integer in [0, 500]"),
        ("501", "must be an integer in [0, 500]"),
        ("x", "expected an integer"),
    ):
        argv = ["compress", str(run), str(wav), "-o", str(tmp_path / "b.vqz")]
        assert main([*argv, "--refine-steps", value]) == 2
        err = capsys.readouterr().err
        assert message in err and not (tmp_path / "b.vqz").exists()


def test_cli_refine_steps_on_an_image_is_refused(capsys, tmp_path):
    from PIL import Image

    png = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(png)
    out = tmp_path / "d.vqz"
    assert main(["compress", str(png), "-o", str(out), "--refine-steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "--refine-steps applies to speech" in err and err.count("\n") == 1
    assert not out.exists()

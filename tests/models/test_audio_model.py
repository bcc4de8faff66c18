"""The audio VQ-VAE: shapes, stages, losses, training, save/load, evaluation."""

import math

import numpy as np
import pytest
import torch

from vqvae.config import QuantizerConfig, VQVAEConfig, estimate_parameters, istft_frames
from vqvae.errors import CheckpointError
from vqvae.models import VQVAE, AudioSignal, is_audio
from vqvae.models.audio_nets import ISTFTDecoder, spectrum_to_samples
from vqvae.models.losses import multi_resolution_stft_loss, phase_loss, stft_magnitude

DECODERS = ("conv", "istft")


def tiny_config(**changes) -> VQVAEConfig:
    quantizer = QuantizerConfig(
        kind="rvq", codebook_size=16, code_dim=8, options={"num_stages": 3, "dropout": 0.5}
    )
    settings = dict(
        modality="audio", sample_rate=8000, strides=(2, 5), hidden_channels=4,
        num_res_blocks=1, quantizer=quantizer,
    )  # fmt: skip
    return VQVAEConfig(**{**settings, **changes})


def test_config_round_trip_and_image_configs_unchanged():
    config = tiny_config()
    data = config.to_dict()
    assert data["modality"] == "audio" and data["strides"] == [2, 5]
    assert "image_size" not in data and "downsample_factor" not in data
    assert VQVAEConfig.from_dict(data) == config and config.hop_length == 10
    image = VQVAEConfig().to_dict()
    assert not {"modality", "sample_rate", "strides"} & set(image)
    for bad in (
        {"strides": (2, 0)},
        {"strides": ()},
        {"sample_rate": 100},
        {"in_channels": 2},
        {"arch": "mlp"},
    ):
        with pytest.raises(ValueError):
            tiny_config(**bad)
    with pytest.raises(ValueError, match="audio models only"):
        VQVAEConfig(sample_rate=8000)
    with pytest.raises(CheckpointError):
        VQVAEConfig.from_dict({**data, "strides": "x"})


def test_the_audio_decoder_setting():
    assert tiny_config(audio_decoder="conv").audio_decoder is None  # the default, unset
    assert "audio_decoder" not in tiny_config().to_dict()  # older fingerprints unchanged
    config = tiny_config(audio_decoder="istft", decoder_res_blocks=3)
    assert config.to_dict()["audio_decoder"] == "istft"
    assert VQVAEConfig.from_dict(config.to_dict()) == config
    model = VQVAE(config)
    assert isinstance(model.decoder, ISTFTDecoder) and len(model.decoder.blocks) == 3
    counted = sum(t.numel() for t in (*model.parameters(), *model.buffers()))
    assert estimate_parameters(config) == pytest.approx(counted, rel=0.2)
    with pytest.raises(ValueError, match="audio_decoder"):
        tiny_config(audio_decoder="wavenet")
    with pytest.raises(ValueError, match="audio models only"):
        VQVAEConfig(audio_decoder="istft")
    assert istft_frames(160) == (80, 320) and istft_frames(75) == (75, 300)


def test_the_istft_output_inverts_an_stft():
    """log|X| and angle(X) of a signal's STFT (Hann window of 4 hops, centred frames) give
    the signal back: what the decoder's head predicts is a spectrum in that convention."""
    torch.manual_seed(0)
    hop, frames = 20, 12
    window = torch.hann_window(4 * hop, dtype=torch.float64)
    x = torch.randn(2, frames * hop, dtype=torch.float64)
    spectrum = torch.stft(x, 4 * hop, hop, window=window, center=True, return_complex=True)
    assert spectrum.shape[-1] == frames + 1
    y = spectrum_to_samples(spectrum.abs().log(), spectrum.angle(), hop, window, frames)
    assert y.shape == x.shape and torch.allclose(y, x, atol=1e-9)


def test_the_phase_weight_setting():
    assert "phase_weight" not in tiny_config(audio_decoder="istft").to_dict()  # unset: 0
    config = tiny_config(audio_decoder="istft", phase_weight=0.1)
    assert config.to_dict()["phase_weight"] == 0.1
    assert VQVAEConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="istft"):
        tiny_config(phase_weight=0.1)  # the conv decoder has no phase to train
    for bad in (-1.0, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="phase_weight"):
            tiny_config(audio_decoder="istft", phase_weight=bad)


def test_phase_loss_against_a_hand_computation():
    """Zero for the target's own phase (shifted by multiples of 2 pi); for a phase off by
    a constant c in (-pi, pi) only the instantaneous term remains: |c| (weights average 1);
    for a wrong phase advance each wrapped error counts as its distance on the circle."""
    torch.manual_seed(0)
    hop, frames = 20, 12
    window = torch.hann_window(4 * hop)
    x = torch.randn(2, 1, frames * hop + 7)  # samples past the decoded length are ignored
    spec = torch.stft(x[:, 0, : frames * hop], 4 * hop, hop, window=window, center=True,
                      return_complex=True)  # fmt: skip
    true = spec.angle()
    assert phase_loss(true, x, hop, window) < 1e-5
    assert phase_loss(true + 2 * math.pi * torch.randint(-3, 4, true.shape), x, hop, window) < 1e-4
    assert phase_loss(true + 0.5, x, hop, window) == pytest.approx(0.5, abs=1e-4)
    assert phase_loss(true - 3.0, x, hop, window) == pytest.approx(3.0, abs=1e-4)
    advance = torch.arange(frames + 1) * 0.3  # each frame 0.3 rad further than the last
    weight = spec.abs() / spec.abs().mean(dim=(1, 2), keepdim=True)
    on_circle = torch.polar(torch.ones_like(advance), advance).angle().abs()  # 3.6 -> 2.68
    instantaneous = (on_circle * weight).mean()
    expected = instantaneous + (0.3 * weight[..., 1:]).mean()
    assert phase_loss(true + advance, x, hop, window) == pytest.approx(float(expected), rel=1e-4)


def test_the_phase_loss_joins_the_training_loss_and_reaches_the_phase():
    torch.manual_seed(0)
    x = torch.sin(torch.arange(800) * 0.3)[None, None] * 0.5
    plain = VQVAE(tiny_config(audio_decoder="istft")).eval()  # no codebook updates
    weighted = VQVAE(tiny_config(audio_decoder="istft", phase_weight=0.5)).eval()
    weighted.load_state_dict(plain.state_dict())
    a, b = plain(x), weighted(x)
    assert "phase" not in a.losses and b.losses["phase"] > 0
    assert torch.allclose(b.x_hat, a.x_hat)
    expected = a.losses["reconstruction"] + 0.5 * b.losses["phase"]
    assert torch.allclose(b.losses["reconstruction"], expected)
    b.loss.backward()
    assert weighted.decoder.head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("length", [1, 9, 10, 11, 137])
def test_encode_decode_lengths(length, decoder):
    model = VQVAE(tiny_config(audio_decoder=decoder)).eval()
    assert type(model) is VQVAE and isinstance(model.signal, AudioSignal) and is_audio(model)
    x = torch.rand(2, 1, length) - 0.5
    indices = model.encode(x)
    frames = math.ceil(length / 10)
    assert indices.shape == (2, 3, frames) and indices.dtype == torch.int64
    assert model.decode(indices).shape == (2, 1, frames * 10)
    out = model(x)
    assert out.x_hat.shape == x.shape and torch.isfinite(out.loss)
    assert model.reconstruct(x).shape == x.shape


def test_stft_loss_against_a_hand_computation():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 300))
    resolutions = ((64, 16),)

    def magnitude(signal):  # centred frames, reflect padding, periodic Hann window
        n_fft, hop = resolutions[0]
        padded = np.pad(signal, n_fft // 2, mode="reflect")
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
        frames = [padded[i : i + n_fft] * window for i in range(0, len(padded) - n_fft + 1, hop)]
        return np.abs(np.fft.rfft(np.array(frames), axis=1)).T

    sx, sy = magnitude(x), magnitude(y)
    expected = np.linalg.norm(sx - sy) / np.linalg.norm(sx) + np.mean(
        np.abs(np.log(sx + 1e-5) - np.log(sy + 1e-5))
    )
    tx, ty = (torch.from_numpy(v).float()[None, None] for v in (x, y))
    assert torch.allclose(stft_magnitude(tx[0], 64, 16)[0], torch.from_numpy(sx).float(), atol=1e-4)
    got = multi_resolution_stft_loss(ty, tx, resolutions)
    assert float(got) == pytest.approx(expected, rel=1e-4)
    assert float(multi_resolution_stft_loss(tx, tx)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("decoder", DECODERS)
def test_training_reduces_the_loss_on_a_tone(one_thread, decoder):
    torch.manual_seed(0)
    model = VQVAE(
        tiny_config(
            quantizer=QuantizerConfig(
                kind="rvq", codebook_size=16, code_dim=8, options={"num_stages": 2}
            ),
            audio_decoder=decoder,
        )
    )
    t = torch.arange(400) / 8000
    x = torch.stack([0.5 * torch.sin(2 * math.pi * f * t) for f in (200.0, 300.0, 450.0, 600.0)])
    x = x[:, None]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        out = model(x)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.losses["reconstruction"].detach()))
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:3])


def test_evaluation_on_whole_clips_skips_pesq_of_clips_too_short_for_it():
    from vqvae.data.audio import AudioDataset
    from vqvae.evaluation import evaluate_audio

    t = torch.arange(4000) / 8000
    voiced = 0.3 * torch.sin(2 * math.pi * 150 * t) * torch.sin(2 * math.pi * 2 * t).clamp(min=0)
    clips = [voiced[:800], voiced]  # 0.1 s (under PESQ's 0.25 s) and 0.5 s
    samples = torch.cat(clips)
    offsets = torch.tensor([0, 800, len(samples)])
    model = VQVAE(tiny_config()).eval()
    result = evaluate_audio(model, AudioDataset(samples, offsets, 8000, "tones"), stages=2)
    assert result["stages"] == 2 and result["bits_per_second"] == pytest.approx(6400)
    assert math.isfinite(result["pesq"]) and math.isfinite(result["snr"])
    assert 0 < result["usage"] <= 1

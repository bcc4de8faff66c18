"""Adversarial audio training: the discriminator, its losses by hand, and exact resume
(images: ``test_image_adversarial.py``)."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from vqvae import VQVAE
from vqvae.cli import main
from vqvae.config import LossConfig, QuantizerConfig, TrainConfig, VQVAEConfig
from vqvae.models.discriminator import (
    MultiScaleSTFTDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
)
from vqvae.train.adversarial import Adversary

TINY = [
    "--hidden", "4", "--res-blocks", "1", "--codebook-size", "16", "--code-dim", "8",
    "--num-stages", "2", "--strides", "2,5", "--batch-size", "4", "--random-crop", "400",
    "--seed", "0", "--no-progress", "--epochs", "100", "--lr-schedule", "constant",
]  # fmt: skip


def _audio_model() -> VQVAE:
    quantizer = QuantizerConfig(kind="vq", codebook_size=16, code_dim=8)
    config = VQVAEConfig(
        modality="audio", sample_rate=8000, strides=(2, 5), hidden_channels=4, quantizer=quantizer
    )
    return VQVAE(config)


def _judgement(logits: list[float], features: list[list[float]]):
    return (torch.tensor(logits), [torch.tensor(f) for f in features])


def test_losses_by_hand():
    real = [_judgement([2.0, 0.5], [[1.0, -1.0]])] * 2
    fake = [_judgement([-2.0, 0.0], [[2.0, -2.0]])] * 2
    # relu(1 - 2), relu(1 - 0.5) -> mean 0.25; relu(1 - 2), relu(1 + 0) -> mean 0.5
    assert float(discriminator_loss(real, fake)) == pytest.approx(0.75)
    assert float(generator_loss(fake)) == pytest.approx(2.0)  # relu(3), relu(1)
    assert float(feature_matching_loss(real, fake)) == pytest.approx(1.0)  # |r - 2r| / |r|
    assert float(feature_matching_loss(real, real)) == 0.0


@pytest.mark.parametrize("length", [100, 4000])
def test_discriminator_judges_every_scale(length):
    torch.manual_seed(0)
    d = MultiScaleSTFTDiscriminator()
    judged = d(torch.randn(3, 1, length))
    assert len(judged) == 3
    for (logits, features), n_fft in zip(judged, (128, 256, 512), strict=True):
        assert logits.shape[:2] == (3, 1) and len(features) == 5
        assert logits.shape[2] == length // (n_fft // 4) + 1  # centred frames


def test_generator_losses_train_the_decoder_not_the_discriminator():
    torch.manual_seed(0)
    adversary = Adversary(
        _audio_model(), LossConfig(adversarial_weight=1.0), 1e-3, torch.device("cpu")
    )
    x = torch.randn(2, 1, 800)
    x_hat = torch.randn(2, 1, 800, requires_grad=True)
    parts = adversary.generator_losses(x_hat, x)
    adversary.weighted(parts).backward()
    assert x_hat.grad is not None and bool(x_hat.grad.abs().sum() > 0)
    assert all(p.grad is None for p in adversary.discriminator.parameters())
    assert all(p.requires_grad for p in adversary.discriminator.parameters())


def test_discriminator_steps_learn_to_tell_real_from_fake():
    torch.manual_seed(0)
    adversary = Adversary(
        _audio_model(), LossConfig(adversarial_weight=1.0), 2e-3, torch.device("cpu")
    )
    t = torch.arange(1600) / 8000
    real = torch.sin(2 * torch.pi * 220 * t).expand(4, 1, -1) * 0.5
    fake = 0.3 * torch.randn(4, 1, 1600)
    first = float(adversary.step(fake, real, 2e-3))
    for _ in range(30):
        last = float(adversary.step(fake, real, 2e-3))
    assert first > 1.5 and last < 0.5 * first


def test_audio_keeps_its_discriminator_and_no_adaptive_weight_by_default():
    adversary = Adversary(_audio_model(), LossConfig(adversarial_weight=1.0), 1e-3, "cpu")
    assert isinstance(adversary.discriminator, MultiScaleSTFTDiscriminator)
    assert not adversary.adaptive
    parts = {"adversarial": torch.tensor(2.0), "feature": torch.tensor(3.0)}
    assert float(adversary.weighted(parts)) == 5.0 and "adaptive_weight" not in parts


def test_feature_weight_defaults_to_the_adversarial_weight():
    assert LossConfig(adversarial_weight=0.5).feature_weight == 0.5
    assert LossConfig(adversarial_weight=0.5, feature_weight=0).adversarial
    assert not LossConfig().adversarial
    config = TrainConfig.of(adversarial_weight=0.2)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="--adversarial-weight"):
        LossConfig(adversarial_weight=-1)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    root = tmp_path_factory.mktemp("adversarial")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            t = np.arange(4800) / 8000
            x = np.sin(2 * np.pi * rng.uniform(100, 200) * t) * 0.3
            x += 0.01 * rng.standard_normal(len(t))
            sf.write(str(root / split / f"{i}.wav"), x.astype(np.float32), 8000)
    return root


def test_adversarial_run_resumes_exactly(speech, tmp_path):
    args = ["train", "--dataset", str(speech), *TINY, "--adversarial-weight", "0.1"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main([*args, "--out", str(whole), "--max-steps", "4"]) == 0
    assert main([*args, "--out", str(split), "--max-steps", "2"]) == 0
    assert (
        main(["train", "--out", str(split), "--resume", "--max-steps", "4", "--no-progress"]) == 0
    )
    saved = json.loads((whole / "config.json").read_text())["train"]
    assert saved["adversarial_weight"] == 0.1 and saved["feature_weight"] == 0.1
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(split / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    states = [torch.load(d / "train_state.pt", weights_only=False) for d in (whole, split)]
    for key, tensor in states[0]["discriminator"].items():
        assert torch.equal(tensor, states[1]["discriminator"][key])
    assert not any(k.startswith("discriminator") for k in a)  # not in the shipped weights


def test_negative_adversarial_weight_is_one_line_exit_2(speech, tmp_path, capsys):
    args = ["train", "--dataset", str(speech), "--out", str(tmp_path / "run"), *TINY]
    assert main([*args, "--adversarial-weight", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--adversarial-weight" in err

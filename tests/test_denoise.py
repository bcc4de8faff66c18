import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.cli import main
from vqvae.config import TrainConfig
from vqvae.denoise import denoise
from vqvae.train import loop

DIGITS = sorted(str(p) for p in (Path(__file__).parents[1] / "examples" / "digits").glob("*.png"))
TINY_MODEL = VQVAEConfig(
    hidden_channels=16,
    res_channels=8,
    num_res_blocks=1,
    quantizer=QuantizerConfig(codebook_size=16, code_dim=8, kmeans_init=False),
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    VQVAE(TINY_MODEL).save_pretrained(out)
    return out


def test_forward_target_sets_the_reconstruction_loss():
    model = VQVAE(TINY_MODEL).eval()
    x = torch.rand(2, 1, 12, 12)
    noisy = torch.rand(2, 1, 12, 12)
    out = model(noisy, target=x)
    expected = torch.nn.functional.mse_loss(model(noisy).x_hat, x)
    assert torch.allclose(out.losses["reconstruction"], expected)
    assert torch.allclose(model(x, target=x).loss, model(x).loss)
    with pytest.raises(ValueError, match="target"):
        model(noisy, target=x[:1])


def test_denoise_is_projection_through_the_codebook():
    model = VQVAE(TINY_MODEL).eval()
    x = torch.rand(3, 1, 13, 10)
    y = denoise(model, x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    expected = model.decode(model.encode(x))[..., :13, :10].clamp(0, 1)
    assert torch.allclose(y, expected)
    twice = denoise(model, y)
    assert torch.allclose(denoise(model, x, iterations=1), twice)
    with pytest.raises(ValueError):
        denoise(model, x, iterations=-1)


def test_corrupt_then_denoise_cli(run_dir, tmp_path, capsys):
    noisy, clean = tmp_path / "noisy", tmp_path / "clean"
    corrupt = ["corrupt", *DIGITS[:3], "--noise", "gaussian:0.5", "--seed", "4"]
    assert main([*corrupt, "--out-dir", str(noisy)]) == 0
    files = sorted(noisy.glob("*.png"))
    assert [f.name for f in files] == [Path(p).name for p in DIGITS[:3]]
    first = [np.asarray(Image.open(f)) for f in files]
    again = tmp_path / "again"
    assert main([*corrupt, "--out-dir", str(again)]) == 0
    assert all(
        np.array_equal(a, np.asarray(Image.open(again / f.name)))
        for a, f in zip(first, files, strict=True)
    )
    assert not np.array_equal(first[0], np.asarray(Image.open(DIGITS[0])))
    assert main(["denoise", str(run_dir), *map(str, files), "--out-dir", str(clean)]) == 0
    assert sorted(f.name for f in clean.glob("*.png")) == [f.name for f in files]
    assert np.asarray(Image.open(clean / files[0].name)).shape == (28, 28)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["corrupt", "IMG", "--noise", "gaussian", "--out-dir", "OUT"], "needs a level"),
        (["corrupt", "IMG", "--noise", "speckle:0.1", "--out-dir", "OUT"], "unknown corruption"),
        (["corrupt", "missing.png", "--noise", "mask:0.2", "--out-dir", "OUT"], "not found"),
        (["corrupt", "IMG", "--noise", "mask:0.2", "--out-dir", "IMGDIR"], "overwrite"),
        (["denoise", "RUN", "missing.png", "--out-dir", "OUT"], "not found"),
        (["denoise", "RUN", "NOTIMAGE", "--out-dir", "OUT"], "not a readable image"),
        (["denoise", "RUN", "RGB", "--out-dir", "OUT"], "channel"),
        (["denoise", "NORUN", "IMG", "--out-dir", "OUT"], "config.json"),
        (["denoise", "RUN", "IMG", "--out-dir", "OUT", "--iterations", "-1"], "iterations"),
        (["train", "--out", "OUT", "--train-noise", "gaussian:-1"], "gaussian"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, run_dir, tmp_path, capsys):
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(rgb)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    subs = {
        "IMG": DIGITS[0],
        "IMGDIR": str(Path(DIGITS[0]).parent),
        "RUN": str(run_dir),
        "NORUN": str(tmp_path),
        "OUT": str(tmp_path / "out"),
        "RGB": str(rgb),
        "NOTIMAGE": str(text),
    }
    code = main([subs.get(a, a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("vqvae: error:") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "out").exists()


def test_train_noise_smoke(tmp_path, monkeypatch):
    seen = []
    real = loop._corrupt_input

    def spy(x, config, epoch, batch):
        y = real(x, config, epoch, batch)
        seen.append((x.clone(), y.clone()))
        return y

    monkeypatch.setattr(loop, "_corrupt_input", spy)
    calls = []
    forward = VQVAE.forward

    def record(self, x, target=None, **options):
        calls.append((x.clone(), None if target is None else target.clone()))
        return forward(self, x, target, **options)

    monkeypatch.setattr(VQVAE, "forward", record)
    config = TrainConfig.of(
        epochs=1,
        max_steps=3,
        batch_size=16,
        train_subset=64,
        eval_subset=16,
        train_noise="saltpepper:0.2",
        checkpoint_every=0,
        device="cpu",
    )
    result = loop.train(TINY_MODEL, config, tmp_path / "run", progress=False, log=lambda s: None)
    assert np.isfinite(result["psnr"])
    assert len(seen) == 3
    # the model sees the corrupted batch and is scored against the clean one
    for (x, y), (inp, target) in zip(seen, calls[:3], strict=True):
        assert torch.equal(inp, y) and torch.equal(target, x)
    for x, y in seen:
        hit = (x != y).float().mean()
        assert 0.05 < float(hit) < 0.25  # about 20% of pixels, minus those already 0 or 1
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["train_noise"] == "saltpepper:0.2"
    # the noise is derived from (seed, epoch, batch): the same batch gets the same noise
    again = loop._corrupt_input(seen[0][0], config, 0, 0)
    assert torch.equal(again, seen[0][1])
    assert not torch.equal(loop._corrupt_input(seen[0][0], config, 0, 1), seen[0][1])


def test_train_noise_none_is_identity():
    x = torch.rand(2, 1, 8, 8)
    assert loop._corrupt_input(x, TrainConfig.of(), 0, 0) is x

"""--perceptual-weight: the frozen loss net stays out of the model and the optimizer, the
setting is saved and a resumed run is exact, and bad use is a one-line error."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from vqvae.cli import main
from vqvae.config import LossConfig, TrainConfig
from vqvae.models.features import FeatureNet, FeatureNetConfig

TINY = [
    "--codebook-size", "16", "--code-dim", "4", "--hidden", "8", "--res-channels", "4",
    "--res-blocks", "1", "--train-subset", "64", "--eval-subset", "16", "--batch-size", "16",
    "--seed", "3", "--device", "cpu", "--epochs", "2", "--checkpoint-every", "2",
    "--no-progress", "--lr-schedule", "constant",
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def net_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("net") / "tiny-net"
    FeatureNet(FeatureNetConfig(arch="strided", widths=(4, 8), num_outputs=4)).save_pretrained(
        folder
    )
    return folder


def test_the_setting_is_saved_and_defaults_to_nothing():
    assert LossConfig().perceptual_weight == 0 and LossConfig().perceptual_net is None
    config = TrainConfig.of(perceptual_weight=0.5, perceptual_net="/some/net")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="--perceptual-weight"):
        LossConfig(perceptual_weight=-1)


def test_a_perceptual_run_resumes_exactly_and_keeps_the_net_out(net_dir, tmp_path):
    args = ["train", *TINY, "--perceptual-weight", "0.5", "--perceptual-net", str(net_dir)]
    whole, split, plain = tmp_path / "whole", tmp_path / "split", tmp_path / "plain"
    assert main([*args, "--out", str(whole), "--max-steps", "4"]) == 0
    assert main([*args, "--out", str(split), "--max-steps", "2"]) == 0
    resume = ["train", "--out", str(split), "--resume", "--max-steps", "4", "--no-progress"]
    assert main(resume) == 0
    saved = json.loads((whole / "config.json").read_text())["train"]
    assert saved["perceptual_weight"] == 0.5 and saved["perceptual_net"] == str(net_dir)
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(split / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the loss changes training (same seed, no perceptual term: other weights) ...
    assert main(["train", *TINY, "--out", str(plain), "--max-steps", "4"]) == 0
    c = load_file(str(plain / "model.safetensors"))
    assert c.keys() == a.keys() and not all(torch.equal(a[k], c[k]) for k in a)
    # ... but its net is in neither the weights nor the optimizer
    state = torch.load(whole / "train_state.pt", weights_only=False)
    n_params = sum(len(g["params"]) for g in state["optimizer"]["param_groups"])
    plain_state = torch.load(plain / "train_state.pt", weights_only=False)
    assert n_params == sum(len(g["params"]) for g in plain_state["optimizer"]["param_groups"])
    assert json.loads((plain / "config.json").read_text())["train"]["perceptual_weight"] == 0


def _one_line_error(capsys, text):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err, err


def test_bad_perceptual_flags_are_one_line_exit_2(tmp_path, capsys):
    out = ["--out", str(tmp_path / "run"), "--max-steps", "1", "--no-progress"]
    assert main(["train", *out, "--perceptual-weight", "-1"]) == 2
    _one_line_error(capsys, "--perceptual-weight")
    assert main(["train", *out, "--perceptual-net", str(tmp_path / "nowhere")]) == 2
    _one_line_error(capsys, "not a feature-net folder")
    assert not (tmp_path / "run").exists()


def test_perceptual_weight_refuses_audio(tmp_path, capsys):
    root = tmp_path / "speech"
    for split, n in (("train", 4), ("test", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            x = 0.3 * np.sin(2 * np.pi * 150 * np.arange(4800) / 8000)
            sf.write(str(root / split / f"{i}.wav"), x.astype(np.float32), 8000)
    args = ["train", "--dataset", str(root), "--out", str(tmp_path / "run"), "--max-steps", "1"]
    assert main([*args, "--no-progress", "--perceptual-weight", "1"]) == 2
    _one_line_error(capsys, "--perceptual-weight trains image models only")


def test_perceptual_and_adversarial_train_together(net_dir, tmp_path):
    """VQGAN's recipe: the adaptive weight balances the hinge term against reconstruction +
    perceptual; two steps run and the run records both."""
    args = ["train", *TINY, "--perceptual-weight", "0.5", "--perceptual-net", str(net_dir)]
    out = tmp_path / "both"
    assert main([*args, "--adversarial-weight", "0.1", "--out", str(out), "--max-steps", "2"]) == 0
    saved = json.loads((out / "config.json").read_text())["train"]
    assert saved["perceptual_weight"] == 0.5 and saved["adversarial_weight"] == 0.1


def test_a_shipped_perceptual_net_is_named_not_made_a_path():
    import argparse

    from vqvae.cli.train import check_perceptual_net

    args = argparse.Namespace(perceptual_net="perceptual")
    check_perceptual_net(args)
    assert args.perceptual_net == "perceptual"  # not ./perceptual, which does not exist

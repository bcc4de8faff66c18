"""Adversarial image training: the adaptive weight by hand, --adversarial-start, exact resume
after kill -9, and the flags' one-line errors."""

import json
import math

import pytest
import torch
from kill_mid_run import kill_after_first_checkpoint
from safetensors.torch import load_file
from torch import nn

from vqvae import VQVAE, checkpoint
from vqvae.cli import main
from vqvae.config import LossConfig, QuantizerConfig, TrainConfig, VQVAEConfig
from vqvae.models.image_discriminator import PatchDiscriminator
from vqvae.train.adversarial import ADAPTIVE_MAX, Adversary, adaptive_weight

# MNIST, 64 images / 16 per step = 4 steps an epoch, 6 steps; a checkpoint every 2 steps.
PLAIN = [
    "--codebook-size", "16", "--code-dim", "4", "--hidden", "8", "--res-channels", "4",
    "--res-blocks", "1", "--train-subset", "64", "--eval-subset", "16", "--batch-size", "16",
    "--seed", "3", "--device", "cpu", "--max-steps", "6", "--checkpoint-every", "2",
    "--no-progress",
]  # fmt: skip
TINY = [*PLAIN, "--adversarial-weight", "0.5", "--feature-weight", "0.1"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread here and in the child: the same float reduction order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _image_model() -> VQVAE:
    torch.manual_seed(0)
    quantizer = QuantizerConfig(kind="vq", codebook_size=16, code_dim=4)
    return VQVAE(VQVAEConfig(in_channels=1, hidden_channels=8, res_channels=4, quantizer=quantizer))


# ---- the adaptive weight -----------------------------------------------------------------


def _toy_decoder() -> tuple[nn.Module, torch.Tensor]:
    """hidden (2 codes x 2 features) -> output layer y = W h + b, W = [[1, 2]], b = 0.5."""
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0]]))
        layer.bias.fill_(0.5)
    return layer, torch.tensor([[1.0, 0.0], [0.0, 3.0]])


def test_adaptive_weight_by_hand():
    layer, h = _toy_decoder()
    y = layer(h).squeeze(1)  # [1.5, 6.5]
    target = torch.tensor([1.0, 4.0])
    other = ((y - target) ** 2).sum()  # dW = sum 2 (y - t) h = 2 (.5 [1, 0] + 2.5 [0, 3]) = [1, 15]
    adversarial = -(3.0 * y).mean()  # dW = -1.5 (h1 + h2) = [-1.5, -4.5]
    want = math.sqrt(1 + 15**2) / (math.sqrt(1.5**2 + 4.5**2) + 1e-4)
    got = adaptive_weight(other, adversarial, layer.weight)
    assert float(got) == pytest.approx(want, rel=1e-6) and not got.requires_grad
    (other + got * adversarial).backward()  # the graphs were kept for the step's backward
    assert layer.weight.grad is not None


def test_adaptive_weight_clamps_and_survives_a_vanishing_adversarial_gradient():
    layer, h = _toy_decoder()
    y = layer(h).squeeze(1)
    other = (y**2).sum()  # dW = 2 (1.5 [1, 0] + 6.5 [0, 3]) = [3, 39]: / 1e-4 > 1e4
    flat = torch.relu(-y - 100).mean()  # a saturated hinge: zero gradient
    assert float(adaptive_weight(other, flat, layer.weight)) == ADAPTIVE_MAX
    constant = torch.tensor(2.0)  # no graph at all
    assert float(adaptive_weight(other, constant, layer.weight)) == ADAPTIVE_MAX
    assert float(adaptive_weight(constant, -y.mean(), layer.weight)) == 0.0


def test_adaptive_weight_under_ddp_takes_the_norms_of_the_averaged_gradients(monkeypatch):
    """Two ranks: lambda is that of the global batch (the gradients averaged, as DDP
    averages the step's), not the mean of the ranks' lambdas."""
    import vqvae.train.adversarial as adversarial

    layer, h = _toy_decoder()
    y = layer(h).squeeze(1)
    other, adv = ((y - 1) ** 2).sum(), -(3.0 * y).mean()  # dW: [1, 33] and [-1.5, -4.5]
    rank1 = torch.tensor([[[3.0, -9.0]], [[1.5, 0.5]]])  # the other rank's two gradients
    monkeypatch.setattr(adversarial.dist, "world_size", lambda: 2)
    monkeypatch.setattr(adversarial.dist, "all_reduce_sum_", lambda t: t.add_(rank1))
    # averaged: [2, 12] and [0, -2]
    want = math.sqrt(4 + 144) / (2 + 1e-4)
    assert float(adaptive_weight(other, adv, layer.weight)) == pytest.approx(want, rel=1e-6)


def test_image_adversary_scales_the_hinge_by_the_adaptive_weight():
    model = _image_model()
    losses = LossConfig(adversarial_weight=0.5, feature_weight=0.25)
    adversary = Adversary(model, losses, 1e-3, torch.device("cpu"))
    assert isinstance(adversary.discriminator, PatchDiscriminator) and adversary.adaptive
    x = torch.rand(4, 1, 28, 28)
    out = model(x)
    parts = adversary.generator_losses(out.x_hat, x)
    total = adversary.weighted(parts, other=out.loss)
    lam = adaptive_weight(out.loss, parts["adversarial"], model.decoder.net[-1].weight)
    assert float(parts["adaptive_weight"]) == float(lam) > 0
    want = 0.5 * lam * parts["adversarial"] + 0.25 * parts["feature"]
    assert float(total.detach()) == pytest.approx(float(want.detach()), rel=1e-6)
    off = Adversary(model, LossConfig(adversarial_weight=0.5, adaptive_weight=False), 1e-3, "cpu")
    assert not off.adaptive


# ---- runs --------------------------------------------------------------------------------


def test_adversarial_start_keeps_the_discriminator_out_before_it(tmp_path, monkeypatch, capsys):
    calls = {"generator_losses": [], "step": []}
    for name in calls:
        original = getattr(Adversary, name)

        def spy(self, *args, name=name, original=original, **kwargs):
            calls[name].append(1)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Adversary, name, spy)
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY, "--adversarial-start", "4"]) == 0
    assert len(calls["generator_losses"]) == len(calls["step"]) == 2  # steps 5 and 6
    assert "step 5: the discriminator joins" in capsys.readouterr().out
    state = checkpoint.load_train_state(run)
    adam = state["discriminator_optimizer"]["state"]
    assert all(int(s["step"]) == 2 for s in adam.values())
    saved = json.loads((run / "config.json").read_text())["train"]
    assert saved["adversarial_start"] == 4 and saved["adaptive_weight"] is None
    for name in calls:
        calls[name].clear()
    late = tmp_path / "late"
    assert main(["train", "--out", str(late), *TINY, "--adversarial-start", "6"]) == 0
    assert not calls["generator_losses"] and not calls["step"]
    assert checkpoint.load_train_state(late)["discriminator_optimizer"]["state"] == {}
    # nor does it touch the global RNG: until it joins, the run is the plain one, bit for bit
    plain = tmp_path / "plain"
    assert main(["train", "--out", str(plain), *PLAIN]) == 0
    got, want = load_file(late / "model.safetensors"), load_file(plain / "model.safetensors")
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_kill_9_then_resume_gives_the_uninterrupted_adversarial_run(tmp_path):
    args = [*TINY, "--adversarial-start", "1"]  # the discriminator trains before the kill
    reference = tmp_path / "reference"
    assert main(["train", "--out", str(reference), *args]) == 0
    run = tmp_path / "run"
    kill_after_first_checkpoint(["train", "--out", str(run), *args], run, pause=0.1)
    assert 2 <= checkpoint.load_train_state(run)["step"] < 6  # killed mid-run
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 0
    got, want = load_file(run / "model.safetensors"), load_file(reference / "model.safetensors")
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    states = [checkpoint.load_train_state(d) for d in (run, reference)]
    assert states[0]["step"] == states[1]["step"] == 6
    for key, tensor in states[1]["discriminator"].items():
        assert torch.equal(states[0]["discriminator"][key], tensor), key
    adam = [s["discriminator_optimizer"]["state"] for s in states]
    for i in adam[1]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(adam[0][i][name], adam[1][i][name]), (i, name)


# ---- settings ----------------------------------------------------------------------------


def test_adversarial_settings_round_trip_and_defaults():
    config = TrainConfig.of(adversarial_weight=0.2, adversarial_start=100, adaptive_weight=False)
    assert TrainConfig.from_dict(config.to_dict()) == config
    plain = LossConfig(adversarial_weight=0.2)
    assert plain.adversarial_start == 0 and plain.adaptive("image") and not plain.adaptive("audio")
    assert LossConfig(adversarial_weight=0.2, adaptive_weight=True).adaptive("audio")
    assert not LossConfig(feature_weight=0.2).adaptive("image")  # no hinge term to scale


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--adversarial-weight", "0.1", "--adversarial-start", "-1"], "--adversarial-start"),
        (["--adversarial-weight", "0.1", "--adversarial-start", "x"], "--adversarial-start"),
        (["--adversarial-start", "10"], "--adversarial-start needs --adversarial-weight"),
        (["--feature-weight", "0.1", "--adaptive-weight"], "--adaptive-weight scales"),
        (["--adversarial-weight", "nan"], "--adversarial-weight"),
        (["--feature-weight", "-1"], "--feature-weight"),
    ],
)
def test_bad_adversarial_flags_are_one_line_exit_2(tmp_path, capsys, flags, message):
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--max-steps", "1", "--no-progress", *flags]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not run.exists()

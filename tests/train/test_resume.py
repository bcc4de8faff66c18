"""Fault tolerance: exact resume after kill -9, damaged checkpoints, NaN losses."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from kill_mid_run import CHILD, kill_after_first_checkpoint
from safetensors.torch import load_file
from torch.optim.optimizer import register_optimizer_step_post_hook

from vqvae import checkpoint
from vqvae.cli import main
from vqvae.config import QuantizerConfig, TrainConfig, VQVAEConfig
from vqvae.data import ImageDataset
from vqvae.errors import CheckpointError
from vqvae.train import TrainingError, train
from vqvae.train.configure import NO_EPOCH_LIMIT

SRC = Path(__file__).parents[2] / "src"
# 96 images / 16 per step = 6 steps an epoch, 12 in all; random crops, k-means init and code
# restarts (which draw from the global RNG) from the first step, a checkpoint every 2 steps.
TINY = [
    "--codebook-size", "16", "--code-dim", "4", "--hidden", "8", "--res-channels", "4",
    "--res-blocks", "1", "--train-subset", "96", "--eval-subset", "16", "--random-crop", "24",
    "--dead-code-threshold", "0.9", "--decay", "0.5", "--batch-size", "16", "--seed", "5",
    "--device", "cpu", "--epochs", "2", "--checkpoint-every", "2", "--no-progress",
    # runs here change --max-steps on resume: a cosine schedule would change its horizon
    "--lr-schedule", "constant",
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread, here and in the child: fast on a busy machine, and the same
    float reduction order in both processes (bit-exact comparisons need it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    assert main(["train", "--out", str(out), *TINY]) == 0
    return out


def _assert_same_run(run: Path, reference: Path) -> None:
    got, want = load_file(run / "model.safetensors"), load_file(reference / "model.safetensors")
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key
    got_state = checkpoint.load_train_state(run)
    want_state = checkpoint.load_train_state(reference)
    assert got_state["step"] == want_state["step"] == 12
    assert torch.equal(got_state["rng"], want_state["rng"])
    got_adam, want_adam = got_state["optimizer"]["state"], want_state["optimizer"]["state"]
    for i in want_adam:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(got_adam[i][name], want_adam[i][name]), (i, name)


def test_kill_9_then_resume_gives_the_uninterrupted_weights(reference, tmp_path):
    run = tmp_path / "run"
    kill_after_first_checkpoint(["train", "--out", str(run), *TINY], run)
    step = checkpoint.load_train_state(run)["step"]
    assert 2 <= step < 12  # killed mid-run, after at least one checkpoint
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 0
    _assert_same_run(run, reference)


def test_truncated_checkpoint_is_rejected_and_the_previous_one_resumes(reference, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--max-steps", "5", *TINY]) == 0  # saves at 2, 4, 5
    state, prev = run / "train_state.pt", run / "train_state.prev.pt"
    assert checkpoint.load_train_state(run)["step"] == 5
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{state}: corrupt or truncated training state" in err
    assert f"the previous good checkpoint is {prev}" in err
    with pytest.raises(CheckpointError, match="train_state.pt: corrupt or truncated"):
        checkpoint.load_train_state(run)
    # The previous good checkpoint (step 4) was kept intact and resumes exactly.
    shutil.copyfile(prev, state)
    assert checkpoint.load_train_state(run)["step"] == 4
    assert main(["train", "--out", str(run), "--resume", "--max-steps", "12", "--no-progress"]) == 0
    _assert_same_run(run, reference)


def test_incomplete_checkpoint_is_rejected(tmp_path):
    torch.save({"model": {}, "step": 3}, tmp_path / "train_state.pt")
    with pytest.raises(CheckpointError, match="incomplete training state .missing optimizer"):
        checkpoint.load_train_state(tmp_path, required=("model", "optimizer"))
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load_train_state(tmp_path / "nowhere")


MODEL = VQVAEConfig(
    hidden_channels=8,
    res_channels=4,
    num_res_blocks=1,
    quantizer=QuantizerConfig(codebook_size=16, code_dim=4),
)
SCHEDULE = TrainConfig.of(
    train_subset=96, eval_subset=16, batch_size=16, epochs=2, seed=5, device="cpu",
    checkpoint_every=2,
)  # fmt: skip


def _assert_kept_checkpoint_of_step(run: Path, step: int) -> None:
    state = checkpoint.load_train_state(run)
    assert state["step"] == step
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())
    weights = load_file(run / "model.safetensors")
    for key, value in state["model"].items():
        assert torch.equal(weights[key], value), key


def test_nan_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    calls, batch = [0], ImageDataset.batch

    def poisoned(self, idx, generator=None):
        calls[0] += 1
        x = batch(self, idx, generator)
        return x.fill_(float("nan")) if calls[0] == 4 else x

    monkeypatch.setattr(ImageDataset, "batch", poisoned)
    with pytest.raises(TrainingError, match=r"loss became nan at step 4; stopped, the last good"):
        train(MODEL, SCHEDULE, tmp_path, progress=False, log=lambda _: None)
    _assert_kept_checkpoint_of_step(tmp_path, 2)


def test_nan_weights_are_never_saved(tmp_path):
    def poison(optimizer, args, kwargs):
        if optimizer.state[optimizer.param_groups[0]["params"][0]]["step"] == 4:
            optimizer.param_groups[0]["params"][0].data.fill_(float("inf"))

    handle = register_optimizer_step_post_hook(poison)
    try:
        with pytest.raises(TrainingError, match="weights became NaN/Inf by step 4; not saving"):
            train(MODEL, SCHEDULE, tmp_path, progress=False, log=lambda _: None)
    finally:
        handle.remove()
    _assert_kept_checkpoint_of_step(tmp_path, 2)


def test_mid_epoch_resume_needs_the_same_global_batch(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--max-steps", "3", *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--batch-size", "32"]) == 2
    assert "resume with --batch-size 16 (got 32)" in capsys.readouterr().err


# ---- interruption, and what one invocation's budget means ----------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_writes_a_checkpoint_and_the_run_resumes_exactly(sig, reference, tmp_path):
    """Ctrl-C or SIGTERM before the first regular checkpoint still leaves a run to resume,
    and the resumed run ends with the uninterrupted run's weights."""
    run = tmp_path / "run"
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")
    argv = ["train", "--out", str(run), *TINY, "--checkpoint-every", "0"]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(pause=0.2), *argv], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (run / "config.json").exists():  # training has started
            assert child.poll() is None, child.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no run dir within 120 s"
            time.sleep(0.01)
        time.sleep(0.5)  # a few steps (each sleeps 0.2 s), before the end of the first epoch
        os.kill(child.pid, sig)
        child.wait(timeout=120)
        err = child.stdout.read().decode()  # stdout and stderr
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == 130, err[-2000:]
    assert "checkpoint written" in err and "Traceback" not in err, err[-2000:]
    step = checkpoint.load_train_state(run)["step"]
    assert 1 <= step < 12
    assert main(["train", "--out", str(run), "--resume", "--checkpoint-every", "2",
                 "--no-progress"]) == 0  # fmt: skip
    _assert_same_run(run, reference)


def test_max_minutes_is_this_invocations_budget(tmp_path, monkeypatch):
    """A resumed run gets its own --max-minutes; given alone, it wins over the epochs default."""
    from vqvae.train import loop

    clock = iter(range(10**6))  # a fake clock: one second per reading
    monkeypatch.setattr(loop.time, "perf_counter", lambda: float(next(clock)))
    run = tmp_path / "run"
    i = TINY.index("--epochs")
    args = ["--out", str(run), *TINY[:i], *TINY[i + 2 :], "--max-minutes", "0.1"]
    assert main(["train", *args]) == 0
    config = json.loads((run / "config.json").read_text())["train"]
    assert config["epochs"] == NO_EPOCH_LIMIT and config["max_minutes"] == 0.1
    first = checkpoint.load_train_state(run)["step"]
    assert 3 <= first <= 7  # about 6 one-second steps
    assert main(["train", "--resume", *args]) == 0
    assert checkpoint.load_train_state(run)["step"] >= first + 3  # not a single step
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["epoch"] == 1  # stopped inside the first epoch: epoch 1, as the bar says


def test_a_run_cut_short_by_max_minutes_says_how_far_it_got(tmp_path, monkeypatch, capsys):
    """Steps are the plan, --max-minutes a cap: the time left is shown at the measured
    speed, and a run the cap ends early says so; --resume trains the rest."""
    from vqvae.train import loop

    clock = iter(range(10**6))  # a fake clock: one second per reading
    monkeypatch.setattr(loop.time, "perf_counter", lambda: float(next(clock)))
    run = tmp_path / "run"
    i = TINY.index("--epochs")
    args = ["--out", str(run), *TINY[:i], *TINY[i + 2 :], "--max-steps", "40"]
    assert main(["train", *args, "--max-minutes", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "for 40 steps (or 0.25 min, whichever ends first)" in out.splitlines()[0]
    assert re.search(r"step \d+ of 40 at [\d.]+ steps/s: about \d+ s to go", out), out
    step = checkpoint.load_train_state(run)["step"]
    assert 5 <= step < 40
    assert f"stopped at {step} of 40 steps by --max-minutes 0.25; the recipe's quality" in out
    assert main(["train", "--resume", "--out", str(run), "--no-progress"]) == 0
    assert checkpoint.load_train_state(run)["step"] > step  # the rest, under a new budget

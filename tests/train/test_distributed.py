"""DDP under torchrun (gloo on CPU): ranks stay bit-identical and match one process."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vqvae import dist
from vqvae.cli import main
from vqvae.errors import VQVAEError
from vqvae.train import distributed
from vqvae.train.sampler import DistributedBatchSampler

SRC = Path(__file__).parents[2] / "src"
WORKER = Path(__file__).parent / "ddp_worker.py"
# 96 images / 16 per step = 6 steps an epoch; random crops, k-means init and (with a high
# dead-code threshold and a fast decay) code restarts from the first step, so every rank-coupled path runs.
TINY = [
    "--codebook-size", "16", "--code-dim", "4", "--hidden", "8", "--res-channels", "4",
    "--res-blocks", "1", "--train-subset", "96", "--eval-subset", "16", "--random-crop", "24",
    "--dead-code-threshold", "0.9", "--decay", "0.5", "--batch-size", "16", "--seed", "3", "--device", "cpu",
    "--no-progress",
]  # fmt: skip
EARLY = 1


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread per process, as torchrun gives each worker: fast on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def _torchrun(cmd: list[str], timeout: float) -> tuple[int, str, str]:
    """Run torchrun; on timeout SIGTERM it, which it forwards to its workers (SIGKILL would not)."""
    proc = subprocess.Popen(
        cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
        pytest.fail(f"torchrun timed out after {timeout} s: {stderr[-2000:]}")
    return proc.returncode, stdout, stderr


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    """A 2-process torchrun of 8 steps (across an epoch end); returns the dump dir."""
    out = tmp_path_factory.mktemp("ddp")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(WORKER), str(out), str(EARLY), "train", "--out", str(out / "run"), "--epochs", "2",
        "--max-steps", "8", "--checkpoint-every", "3", *TINY,
    ]  # fmt: skip
    code, stdout, stderr = _torchrun(cmd, timeout=180)
    assert code == 0, stdout[-2000:] + stderr[-2000:]
    assert "training on 2 processes (cpu), 8 of 16 images each per step" in stdout
    assert stdout.count("done:") == 1  # rank 0 alone reports
    return out


def test_ranks_hold_bit_identical_weights_codebooks_and_rng(two_ranks):
    for name in (f"step{EARLY}", None):
        suffix = f"_{name}" if name else ""
        r0 = torch.load(two_ranks / f"rank0{suffix}.pt")
        r1 = torch.load(two_ranks / f"rank1{suffix}.pt")
        assert r0["state"].keys() == r1["state"].keys()
        for key in r0["state"]:
            assert torch.equal(r0["state"][key], r1["state"][key]), key
        assert torch.equal(r0["rng"], r1["rng"])
    # Training moved the codebook: the comparison above is not between two untouched inits.
    early = torch.load(two_ranks / f"rank0_step{EARLY}.pt")["state"]["quantizer.codebook"]
    final = torch.load(two_ranks / "rank0.pt")["state"]["quantizer.codebook"]
    assert not torch.equal(early, final)


def test_rank0_writes_the_unwrapped_model(two_ranks):
    from vqvae import VQVAE

    model = VQVAE.from_pretrained(two_ranks / "run")  # no "module." prefix
    final = torch.load(two_ranks / "rank0.pt")["state"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, final[key]), key


def test_two_ranks_match_one_process_on_the_same_global_batch(two_ranks, tmp_path):
    from safetensors.torch import load_file

    run = tmp_path / "one"
    args = ["train", "--out", str(run), "--epochs", "2", "--max-steps", str(EARLY), *TINY]
    assert main(args) == 0
    one = load_file(run / "model.safetensors")
    two = torch.load(two_ranks / f"rank0_step{EARLY}.pt")["state"]
    # Batches of 8 vs 16 change float rounding only; a wrong shard, a missing all-reduce or
    # a rank-local restart would be off by about the learning rate (1e-3) or more.
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-5, msg=key)


def test_adversarial_audio_ranks_keep_one_discriminator(tmp_path):
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("test", 1)):
        (tmp_path / "wav" / split).mkdir(parents=True)
        for i in range(n):
            x = np.sin(2 * np.pi * rng.uniform(100, 200) * np.arange(2400) / 8000) * 0.3
            sf.write(str(tmp_path / "wav" / split / f"{i}.wav"), x.astype(np.float32), 8000)
    audio = [
        "--dataset", str(tmp_path / "wav"), "--hidden", "4", "--res-blocks", "1",
        "--codebook-size", "16", "--code-dim", "8", "--num-stages", "2", "--strides", "2,5",
        "--batch-size", "4", "--random-crop", "400", "--seed", "0", "--device", "cpu",
        "--no-progress", "--adversarial-weight", "0.1", "--max-steps", "3",
    ]  # fmt: skip
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(WORKER), str(tmp_path), "1", "train", "--out", str(tmp_path / "run"), *audio,
    ]  # fmt: skip
    code, stdout, stderr = _torchrun(cmd, timeout=180)
    assert code == 0, stdout[-2000:] + stderr[-2000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for part in ("state", "discriminator"):
        assert r0[part].keys() == r1[part].keys()
        for key in r0[part]:
            assert torch.equal(r0[part][key], r1[part][key]), (part, key)


def test_sampler_shards_tile_the_global_batch():
    whole = DistributedBatchSampler(100, 32, seed=5)
    halves = [DistributedBatchSampler(100, 32, seed=5, rank=r, world_size=2) for r in (0, 1)]
    assert whole.batches_per_epoch == 3 and halves[0].local_batch_size == 16
    for epoch, b in [(0, 0), (1, 2)]:
        idx = whole.indices(epoch, b)
        assert torch.equal(halves[1].indices(epoch, b), idx)
        assert torch.equal(torch.cat([s.shard(idx) for s in halves]), idx)
    assert not torch.equal(whole.indices(0, 0), whole.indices(1, 0))
    with pytest.raises(VQVAEError, match="split evenly across 3 processes"):
        DistributedBatchSampler(100, 32, seed=5, rank=0, world_size=3)


def test_dist_helpers_are_identity_in_one_process():
    local = torch.arange(12.0).reshape(6, 2)
    rows = torch.tensor([4, 0, 4])
    assert dist.row_counts(6) == [6]
    assert torch.equal(dist.gather_rows(local, rows, [6]), local[rows])
    assert torch.equal(dist.all_gather_rows(local), local)
    assert dist.any_rank(True) and not dist.any_rank(False)


def test_process_group_follows_the_torchrun_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with distributed.process_group("cpu") as device:  # a plain run: no group
        assert device == torch.device("cpu") and not dist.is_distributed()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    for name, value in {**env, "MASTER_PORT": str(port)}.items():
        monkeypatch.setenv(name, value)
    with distributed.process_group("cpu") as device:
        assert dist.is_distributed() and dist.world_size() == 1
        assert torch.distributed.get_backend() == "gloo"
    assert not dist.is_distributed()  # torn down on exit


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_path_bf16_channels_last(tmp_path):
    from vqvae import VQVAE

    args = [a if a != "cpu" else "cuda" for a in TINY]
    assert main(["train", "--out", str(tmp_path), "--epochs", "1", "--max-steps", "3", *args]) == 0
    model = VQVAE.from_pretrained(tmp_path)  # trained on the GPU, loaded on the CPU
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert model.quantizer.codebook.dtype == torch.float32


def test_channels_last_layout_gives_the_same_forward_and_gradients():
    """The CUDA path trains in channels_last; checked here on the CPU, where it also runs."""
    from vqvae import VQVAE, QuantizerConfig, VQVAEConfig

    config = VQVAEConfig(
        hidden_channels=8, res_channels=4, num_res_blocks=1,
        quantizer=QuantizerConfig(codebook_size=16, code_dim=4, kmeans_init=False),
    )  # fmt: skip
    x = torch.rand(4, 1, 28, 28)
    outs = []
    for memory_format in (torch.contiguous_format, torch.channels_last):
        torch.manual_seed(0)
        model = VQVAE(config).to(memory_format=memory_format)
        out = model(x.contiguous(memory_format=memory_format))
        out.loss.backward()
        outs.append((out, model.encoder.net[0].weight.grad))
    (a, grad_a), (b, grad_b) = outs
    assert torch.equal(a.indices, b.indices)
    torch.testing.assert_close(b.x_hat, a.x_hat, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_b, grad_a, rtol=1e-4, atol=1e-6)


def test_adversarial_image_ranks_keep_one_discriminator_and_match_one_process(tmp_path):
    """The patch discriminator and the adaptive weight under DDP: the ranks stay
    bit-identical, and the model's first step is one process's on the same global batch
    (feature matching off: its per-rank normalisation is not the global batch's)."""
    from safetensors.torch import load_file

    args = [*TINY, "--adversarial-weight", "0.5", "--feature-weight", "0", "--max-steps", "3"]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(WORKER), str(tmp_path), str(EARLY), "train", "--out", str(tmp_path / "two"), *args,
    ]  # fmt: skip
    code, stdout, stderr = _torchrun(cmd, timeout=180)
    assert code == 0, stdout[-2000:] + stderr[-2000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for part in ("state", "discriminator"):
        assert r0[part].keys() == r1[part].keys()
        for key in r0[part]:
            assert torch.equal(r0[part][key], r1[part][key]), (part, key)
    one = tmp_path / "one"
    assert main(["train", "--out", str(one), *args, "--max-steps", str(EARLY)]) == 0
    # (later steps drift apart by rounding: a code assignment flips by step 2)
    early = torch.load(tmp_path / f"rank0_step{EARLY}.pt")["state"]
    for key, want in load_file(one / "model.safetensors").items():
        torch.testing.assert_close(early[key], want, rtol=0, atol=1e-5, msg=key)

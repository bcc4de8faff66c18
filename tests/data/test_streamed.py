"""Streamed folders and tar shards: same batches as in RAM, ranks disjoint, unreadable files
skipped and counted, exact resume after kill -9."""

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from kill_mid_run import kill_after_first_checkpoint
from PIL import Image
from safetensors.torch import load_file

from vqvae import checkpoint
from vqvae.cli import main
from vqvae.config import DataConfig, QuantizerConfig, TrainConfig, VQVAEConfig
from vqvae.data import load_dataset
from vqvae.data.streamed import open_streamed, shard_paths
from vqvae.errors import DataError
from vqvae.evaluation import evaluate
from vqvae.models import VQVAE
from vqvae.train import train
from vqvae.train.batches import (
    STREAMS,
    FolderPlan,
    ShardPlan,
    StreamedBatches,
    batch_source,
    load_splits,
)
from vqvae.train.sampler import DistributedBatchSampler, batch_generator

SRC = Path(__file__).parents[2] / "src"
MODEL = VQVAEConfig(
    hidden_channels=8,
    res_channels=4,
    num_res_blocks=1,
    quantizer=QuantizerConfig(codebook_size=16, code_dim=4, dead_code_threshold=0.9, decay=0.5),
)


def _image(i: int, size: int = 20) -> np.ndarray:
    """Noise whose top-left pixel's red value is ``i`` (how tests recognise an image)."""
    a = np.random.default_rng(i).integers(0, 256, (size, size, 3), dtype=np.uint8)
    a[:2, :2, 0] = i
    return a


def _folder(path: Path, n: int, size: int = 20) -> Path:
    path.mkdir(parents=True)
    for i in range(n):
        sub = path / f"part{i % 3}"  # nested: listed recursively
        sub.mkdir(exist_ok=True)
        Image.fromarray(_image(i, size)).save(sub / f"img{i:03d}.png")
    return path


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _shards(path: Path, sizes: list[int], bad: tuple[int, ...] = ()) -> Path:
    """Tar shards of ``sizes`` images each (ids 0, 1, ... in order), each with a label
    member; ids in ``bad`` are garbage bytes named .png."""
    path.mkdir(parents=True)
    i = 0
    for s, size in enumerate(sizes):
        with tarfile.open(path / f"shard-{s:03d}.tar", "w") as tar:
            for _ in range(size):
                for name, data in (
                    (f"sample{i:04d}.png", b"garbage" if i in bad else _png(_image(i))),
                    (f"sample{i:04d}.cls", str(i).encode()),
                ):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                i += 1
    return path


def _ids(x: torch.Tensor) -> list[int]:
    """Image ids of a batch read without crop: uint8 (B, C, H, W) or float in [0, 1]."""
    if x.dtype != torch.uint8:
        x = (x * 255).round().to(torch.uint8)
    return [int(v) for v in x[:, 0, 0, 0]]


def _same_weights(a: Path, b: Path) -> None:
    got, want = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


def _config(dataset: Path | str, **flat) -> TrainConfig:
    settings = dict(
        dataset=str(dataset), batch_size=8, epochs=2, seed=3, device="cpu", random_crop=16,
        eval_subset=8, checkpoint_every=0, lr_schedule="constant",
    )  # fmt: skip
    return TrainConfig.of(**{**settings, **flat})


def _train(config: TrainConfig, out: Path) -> None:
    train(MODEL, config, out, progress=False, log=lambda s: None)


def test_streamed_folder_trains_bit_identically_to_in_ram(tmp_path, one_thread):
    data = _folder(tmp_path / "imgs", 24)
    _train(_config(data, data_loading="memory"), tmp_path / "ram")
    _train(_config(data, data_loading="stream", workers=2), tmp_path / "streamed")
    _same_weights(tmp_path / "streamed", tmp_path / "ram")


def test_auto_streams_shards_and_large_folders_only(tmp_path, monkeypatch):
    data = _folder(tmp_path / "imgs", 6)
    train_set, test_set = load_splits(DataConfig(dataset=str(data)))
    assert type(train_set).__name__ == "ImageDataset"  # small: in RAM
    monkeypatch.setattr("vqvae.data.streamed.STREAM_ABOVE_BYTES", 6 * 3 * 20 * 20 - 1)
    train_set, test_set = load_splits(DataConfig(dataset=str(data), eval_subset=4))
    assert train_set.kind == "folder" and len(train_set) == 6 and len(test_set) == 4
    shards = _shards(tmp_path / "shards", [3, 3])
    train_set, _ = load_splits(DataConfig(dataset=str(shards), data_loading="memory"))
    assert train_set.kind == "shards" and len(train_set) == 6  # shards always stream


def test_folder_ranks_read_disjoint_rows_of_the_in_ram_global_batch(tmp_path):
    data = _folder(tmp_path / "imgs", 24)
    ram = load_dataset(str(data), random_crop=16)
    streamed = open_streamed(str(data), data, random_crop=(16, 16))
    for epoch in range(2):
        seen = []
        for b in range(3):
            idx = DistributedBatchSampler(24, 8, 7).indices(epoch, b)
            want = ram.batch(idx, batch_generator(7, epoch, b))
            parts = []
            for rank in range(2):
                plan = FolderPlan(streamed, DistributedBatchSampler(24, 8, 7, rank, 2), 7)
                x, skipped, error = plan[(epoch, b)]
                assert error is None and skipped == [] and x.shape == (4, 3, 16, 16)
                parts.append(x.float() / 255)
            assert torch.equal(torch.cat(parts), want)
            seen += idx.tolist()
        assert sorted(seen) == list(range(24))  # the epoch covers every image once


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_shard_ranks_are_disjoint_cover_the_epoch_and_ignore_worker_count(tmp_path):
    shards = _shards(tmp_path / "shards", [8, 8, 8, 8])
    assert shard_paths(str(shards / "shard-{000..003}.tar")) == shard_paths(str(shards))
    data = open_streamed(str(shards), None)
    assert len(data) == 32 and data.image_size == (20, 20)
    for epoch in range(2):
        ids = []
        for rank in range(2):
            plan = ShardPlan(data, 8, 5, rank, 2)
            assert (plan.batches_per_epoch, plan.local_batch_size) == (4, 4)
            batches = [_ids(x) for x in StreamedBatches(plan, workers=0).epoch(epoch, 0)]
            # 3 workers (12 streams split 4 each) read the same batches in the same order
            assert [_ids(x) for x in StreamedBatches(plan, workers=3).epoch(epoch, 0)] == batches
            mine = {i // 8 for batch in batches for i in batch}
            assert mine == set(plan.shards_of(epoch).tolist())  # whole shards per rank
            ids += [i for batch in batches for i in batch]
        assert sorted(ids) == list(range(32))  # disjoint, and together the whole epoch
    # A resumed epoch starts at its batch: the rest of the same sequence.
    plan = ShardPlan(data, 8, 5, 0, 1)
    full = [_ids(x) for x in StreamedBatches(plan, 0).epoch(1, 0)]
    assert [_ids(x) for x in StreamedBatches(plan, 2).epoch(1, 3)] == full[3:]
    assert STREAMS >= 2 and len(full) == 4


def test_unreadable_images_are_skipped_with_one_warning_each_and_counted(tmp_path, capsys):
    data = _folder(tmp_path / "imgs", 13)  # + 3 skipped: 4 batches of 4 an epoch
    (data / "part0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    (data / "part1" / "text.jpg").write_text("not an image")
    (data / "tiny.png").write_bytes(_png(_image(99, 8)))  # smaller than the crop
    argv = ["train", "--dataset", str(data), "--data-loading", "stream", "--workers", "2"]
    argv += ["--out", str(tmp_path / "run"), "--epochs", "2", "--batch-size", "4"]
    argv += ["--random-crop", "16", "--hidden", "8", "--res-channels", "4", "--res-blocks", "1"]
    argv += ["--codebook-size", "8", "--code-dim", "4", "--device", "cpu", "--eval-subset", "4"]
    assert main([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("warning: skipped")]
    assert len(warnings) == 3, err  # one line per file, though each epoch meets them again
    for name in ("part0/broken.png", "part1/text.jpg", "tiny.png"):
        assert sum(name in line for line in warnings) == 1
    assert any("8x8, smaller than the 16x16 crop" in line for line in warnings)
    counts = [line for line in err if "unreadable images skipped in epoch" in line]
    assert len(counts) == 2 and all("3 unreadable images skipped" in c for c in counts)
    assert all("(3 different files so far)" in c for c in counts)
    # Garbage inside a tar shard is skipped the same way.
    shards = _shards(tmp_path / "shards", [6, 6], bad=(2,))
    argv[2], argv[8], argv[10] = str(shards), str(tmp_path / "run2"), "1"
    assert main([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: skipped") == 1 and "shard-000.tar:sample0002.png" in err


def test_no_readable_image_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "bad"
    data.mkdir()
    for i in range(3):
        (data / f"x{i}.png").write_bytes(b"nope")
    argv = ["train", "--dataset", str(data), "--data-loading", "stream"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no readable image" in err and "3 tried" in err
    with pytest.raises(DataError, match="shard not found"):
        shard_paths(str(tmp_path / "s-{0..2}.tar"))


def test_evaluation_on_a_streamed_folder_matches_in_ram(tmp_path):
    data = _folder(tmp_path / "imgs", 10)
    model = VQVAE(MODEL.replace(image_size=(20, 20), in_channels=3))
    ram = evaluate(model, load_dataset(str(data)), batch_size=4)
    streamed = evaluate(model, open_streamed(str(data), data), batch_size=4)
    assert streamed == pytest.approx(ram, rel=1e-6)
    shards = open_streamed(str(_shards(tmp_path / "shards", [4, 6])), None)
    assert _ids(shards.batch(torch.arange(10))) == list(range(10))  # one sequential read


def test_shards_resume_exactly_after_a_stop_mid_epoch(tmp_path, one_thread):
    shards = _shards(tmp_path / "shards", [10, 10, 10])
    config = _config(shards, workers=2, epochs=2)
    _train(config, tmp_path / "ref")
    _train(config.replace(max_steps=4), tmp_path / "run")  # 3 batches an epoch: mid-epoch 2
    assert checkpoint.load_train_state(tmp_path / "run")["batch"] == 1
    train(MODEL, config, tmp_path / "run", resume=True, progress=False, log=lambda s: None)
    _same_weights(tmp_path / "run", tmp_path / "ref")


def test_kill_9_mid_epoch_then_resume_gives_the_uninterrupted_weights(tmp_path, one_thread):
    data = _folder(tmp_path / "imgs", 40)
    # 5 steps an epoch, 10 in all, a checkpoint every 2 steps: killed mid-epoch.
    argv = ["train", "--dataset", str(data), "--data-loading", "stream", "--workers", "2"]
    argv += ["--random-crop", "16", "--batch-size", "8", "--epochs", "2", "--seed", "5"]
    argv += ["--hidden", "8", "--res-channels", "4", "--res-blocks", "1", "--codebook-size"]
    argv += ["16", "--code-dim", "4", "--dead-code-threshold", "0.9", "--decay", "0.5"]
    argv += ["--device", "cpu", "--eval-subset", "8", "--checkpoint-every", "2"]
    argv += ["--lr-schedule", "constant", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "ref")]) == 0
    run = tmp_path / "run"
    kill_after_first_checkpoint([*argv, "--out", str(run)], run, pause=0.3)
    state = checkpoint.load_train_state(run)
    assert 2 <= state["step"] < 10 and state["batch"] > 0  # mid-epoch
    assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 0
    _same_weights(run, tmp_path / "ref")
    assert checkpoint.load_train_state(run)["step"] == 10


def test_batch_source_keeps_in_ram_datasets_in_ram(tmp_path):
    data = load_dataset(str(_folder(tmp_path / "imgs", 8)))
    source = batch_source(data, DataConfig(), 4, 0, torch.device("cpu"))
    x = next(source.epoch(0, 0))
    assert type(source).__name__ == "InMemoryBatches" and x.shape == (4, 3, 20, 20)


def test_eval_cli_streams_a_large_folder_and_leaves_unreadable_files_out(
    tmp_path, monkeypatch, capsys
):
    data = _folder(tmp_path / "imgs", 6)
    run = tmp_path / "run"
    VQVAE(MODEL.replace(image_size=(20, 20), in_channels=3)).save_pretrained(run)
    assert main(["eval", str(run), "--dataset", str(data), "--json"]) == 0
    in_ram = capsys.readouterr().out
    (data / "zz_broken.png").write_bytes(b"nope")
    monkeypatch.setattr("vqvae.data.streamed.STREAM_ABOVE_BYTES", 0)
    assert main(["eval", str(run), "--dataset", str(data), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out == in_ram  # the same six images, streamed
    assert captured.err.count("warning: skipped zz_broken.png: not a readable image") == 1


def test_two_ddp_ranks_streaming_a_folder_follow_one_process(tmp_path, one_thread):
    data = _folder(tmp_path / "imgs", 32)
    argv = ["train", "--dataset", str(data), "--data-loading", "stream", "--workers", "1"]
    argv += ["--random-crop", "16", "--batch-size", "8", "--epochs", "2", "--seed", "5"]
    argv += ["--hidden", "8", "--res-channels", "4", "--res-blocks", "1", "--codebook-size"]
    argv += ["16", "--code-dim", "4", "--device", "cpu", "--eval-subset", "8", "--no-progress"]
    argv += ["--max-steps", "3"]
    assert main([*argv, "--out", str(tmp_path / "one")]) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "vqvae", *argv, "--out", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "training on 2 processes (cpu), 4 of 8 images each per step" in proc.stdout
    one, two = (load_file(tmp_path / d / "model.safetensors") for d in ("one", "two"))
    # Float rounding only (batches of 4 vs 8); a wrong shard would be off by about the
    # learning rate (1e-3) or more.
    for key in one:  # each rank decoded its half of the same global batches
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-5, msg=key)

"""Nothing a user owns is lost through a run dir (#37): symbolic links where run files should
be are refused, never followed; kill -9 leftovers are removed; a seed is in range or refused."""

from __future__ import annotations

import os

import pytest
import torch

from vqvae import checkpoint
from vqvae.cli import main
from vqvae.errors import CheckpointError
from vqvae.train.rundir import LOCK_FILE, check_new_run, locked
from vqvae.train.sampler import batch_generator, epoch_permutation

TINY = [
    "--codebook-size", "16", "--code-dim", "4", "--hidden", "8", "--res-channels", "4",
    "--res-blocks", "1", "--train-subset", "32", "--eval-subset", "16", "--batch-size", "16",
    "--device", "cpu", "--max-steps", "1", "--no-progress",
]  # fmt: skip


def _refused(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vqvae: error: "), err
    return err


@pytest.mark.parametrize("name", [LOCK_FILE, "metrics.jsonl", "config.json", "train_state.pt"])
@pytest.mark.parametrize("mode", [[], ["--overwrite"], ["--resume"]])
def test_a_planted_symlink_in_a_run_dir_is_refused(tmp_path, capsys, name, mode):
    victim = tmp_path / "precious.txt"
    victim.write_text("mine\n")
    run = tmp_path / "run"
    run.mkdir()
    if mode == ["--resume"]:  # a real run to resume, with one of its files made a link
        assert main(["train", "--out", str(run), *TINY]) == 0
        (run / name).unlink(missing_ok=True)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}  # (tb/: a folder)
    os.symlink(victim, run / name)
    err = _refused(capsys, ["train", "--out", str(run), *TINY, *mode])
    assert "symbolic link" in err and name in err, err
    assert victim.read_text() == "mine\n"
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.name != name and p.is_file()}
    assert after == before  # nothing written


def test_run_files_are_never_opened_through_a_link(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("mine\n")
    run = tmp_path / "run"
    run.mkdir()
    for name in ("metrics.jsonl", "config.json", "model.safetensors", "train_state.pt"):
        os.symlink(victim, run / name)
    with pytest.raises(CheckpointError, match="symbolic link"):
        checkpoint.append_line(run / "metrics.jsonl", "{}")
    with pytest.raises(CheckpointError, match="symbolic link"):
        checkpoint.read_json(run / "config.json")
    with pytest.raises(CheckpointError, match="symbolic link"):
        checkpoint.load_weights(run / "model.safetensors")
    with pytest.raises(CheckpointError, match="symbolic link"):
        checkpoint.load_train_state(run)
    with pytest.raises(CheckpointError, match="symbolic link"):
        checkpoint.save_train_state(run, {"step": 1})
    with pytest.raises(CheckpointError, match="symbolic link"):
        check_new_run(run, resume=True, overwrite=False)
    assert victim.read_text() == "mine\n"


def test_a_fifo_run_file_cannot_hang_a_reader(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "config.json")
    with pytest.raises(CheckpointError, match="not a regular file"):
        checkpoint.read_json(run / "config.json")
    os.mkfifo(run / LOCK_FILE)
    with pytest.raises(CheckpointError, match="not a regular file"), locked(run):
        pass


def test_temp_files_a_kill_left_are_removed_by_the_next_run(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    leftovers = [run / ".entropy.json.abc.tmp", run / ".train_state.pt.k2j4.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    (run / ".notes.tmp").write_text("mine")  # not ours: kept
    assert main(["train", "--out", str(run), *TINY, "--overwrite"]) == 0
    assert not any(path.exists() for path in leftovers)
    assert (run / ".notes.tmp").read_text() == "mine"


def test_a_seed_out_of_range_is_one_line_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    for seed in ("-1", str(2**32), "20000000000000"):
        err = _refused(capsys, ["train", "--out", str(run), *TINY, "--seed", seed])
        assert "--seed" in err and "4294967295" in err
    assert not run.exists()


def test_every_seed_in_range_runs_and_small_ones_are_unchanged():
    seed = 2**32 - 1  # (seed * 1_000_003 + epoch) * 1_000_003 overflows 64 bits
    assert batch_generator(seed, 7, 9).initial_seed() >= 0
    assert len(epoch_permutation(10, seed, 3)) == 10
    # the seeds that ran before give the very same batches
    assert batch_generator(5, 1, 2).initial_seed() == (5 * 1_000_003 + 1) * 1_000_003 + 2
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(5 * 7919 + 3))
    assert torch.equal(epoch_permutation(10, 5, 3), expected)


def test_a_killed_encode_dataset_or_fit_entropy_leaves_nothing_after_the_next(tmp_path):
    run, codes = tmp_path / "run", tmp_path / "run" / "codes"
    assert main(["train", "--out", str(run), *TINY]) == 0
    codes.mkdir()
    leftovers = [codes / ".test.codes.q8z1x0ab.tmp", codes / ".test.json.a1b2c3d4.tmp",
                 run / ".entropy.json.zz9y8x7w.tmp"]  # fmt: skip
    for path in leftovers:
        path.write_bytes(b"half")
    (codes / ".train.codes.q8z1x0ab.tmp").write_bytes(b"another split's: its own run sweeps it")
    quiet = ["--quiet", "--device", "cpu"]
    assert (
        main(["encode-dataset", str(run), "--out-dir", str(codes), "--split", "test", *quiet]) == 0
    )
    assert main(["fit-entropy", str(run), "--limit", "32", *quiet]) == 0
    assert not any(path.exists() for path in leftovers)
    assert (codes / "test.codes").is_file() and (run / "entropy.json").is_file()
    assert (codes / ".train.codes.q8z1x0ab.tmp").exists()

"""At each evaluation a run logs, besides its scalars, a grid of test images and their
reconstructions (image models) or a test clip and its decoding (speech) to TensorBoard."""

import torch

import vqvae.train.loop as loop
from vqvae.cli import main
from vqvae.train.tensorboard import log_media

TINY = ["--codebook-size", "16", "--code-dim", "4", "--hidden", "8", "--res-channels", "4",
        "--res-blocks", "1", "--batch-size", "16", "--train-subset", "32", "--eval-subset",
        "16", "--no-progress", "--no-kmeans-init"]  # fmt: skip


class Writer:
    """SummaryWriter's calls, recorded."""

    def __init__(self, *args):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def test_each_evaluation_logs_a_reconstruction_grid(tmp_path, monkeypatch):
    writers = []
    monkeypatch.setattr(
        loop, "_tensorboard_writer", lambda run_dir: writers.append(Writer()) or writers[-1]
    )
    argv = ["train", "--out", str(tmp_path / "run"), "--epochs", "2", "--eval-every", "2"]
    assert main([*argv, *TINY]) == 0
    (writer,) = writers
    images = [c for c in writer.calls if c[0] == "add_image"]
    evaluations = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(images) == len(evaluations) >= 2
    name, (tag, grid, step), _ = images[-1]
    assert tag == "test/reconstructions" and grid.shape[0] == 3 and grid.shape[1] > 100
    assert 0 <= float(grid.min()) and float(grid.max()) <= 1 and float(grid.std()) > 0.1
    assert [c[1][0] for c in writer.calls if c[0] == "add_scalar"].count("test/psnr") == len(images)


def test_speech_models_log_the_clip_and_its_decoding():
    from vqvae.runs import Run

    run = Run("fsdd")
    model = run.model.train()
    writer = Writer()
    try:
        test = run.dataset("test", limit=1)
    except Exception:  # no FSDD here: a clip of noise
        test = type("Clips", (), {"clip": lambda self, i: torch.randn(1, 1, 8000) * 0.1})()
    log_media(writer, model, test, 7)
    (orig, dec) = writer.calls
    assert orig[1][0] == "test/original" and dec[1][0] == "test/decoded" and orig[1][2] == 7
    assert orig[2]["sample_rate"] == dec[2]["sample_rate"] == 8000
    assert orig[1][1].shape == dec[1][1].shape and orig[1][1].shape[-1] <= 4 * 8000
    assert model.training  # put back as it was

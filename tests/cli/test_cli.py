import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vqvae import VQVAE
from vqvae.cli import main

DIGITS = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*.png"))
TINY = [
    "--codebook-size",
    "32",
    "--code-dim",
    "8",
    "--hidden",
    "16",
    "--res-channels",
    "8",
    "--res-blocks",
    "1",
    "--batch-size",
    "32",
    "--train-subset",
    "256",
    "--eval-subset",
    "64",
    "--no-progress",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    argv = ["train", "--out", str(out), "--epochs", "2", "--eval-every", "8", "--seed", "1"]
    assert main([*argv, *TINY]) == 0
    return out


def test_help_exits():
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


def test_train_writes_a_run_dir(run_dir):
    assert (run_dir / "config.json").is_file()
    assert (run_dir / "model.safetensors").is_file()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # --eval-every 8: step 8, and the last step
    first, record = json.loads(lines[0]), json.loads(lines[-1])
    assert first["epoch"] == 1 and first["step"] == 8
    assert record["epoch"] == 2 and record["step"] == 16 and record["test_images"] == 64
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["quantizer"]["codebook_size"] == 32
    assert config["train"]["dataset"] == "mnist"
    model = VQVAE.from_pretrained(run_dir)
    assert model.config.in_channels == 1


def test_eval_json_prints_one_object(run_dir, capsys):
    assert main(["eval", str(run_dir), "--json", "--limit", "64"]) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1
    result = json.loads(out)
    assert set(result) == {"mse", "nmse", "psnr", "ssim", "perplexity", "usage", "bits_per_code"}
    assert 0 < result["usage"] <= 1 and result["psnr"] > 5


def test_reconstruct_writes_pairs_and_grid(run_dir, tmp_path):
    out = tmp_path / "rec"
    assert main(["reconstruct", str(run_dir), *DIGITS[:3], "--out-dir", str(out)]) == 0
    assert (out / "grid.png").is_file()
    assert len(list(out.glob("*_reconstruction.png"))) == 3
    assert Image.open(out / f"{Path(DIGITS[0]).stem}_reconstruction.png").size == (28, 28)


def test_encode_decode_round_trip(run_dir, tmp_path):
    codes = tmp_path / "codes.npy"
    assert main(["encode", str(run_dir), *DIGITS, "-o", str(codes)]) == 0
    array = np.load(codes)
    assert array.shape == (len(DIGITS), 7, 7) and array.dtype == np.uint16
    out = tmp_path / "dec"
    assert main(["decode", str(run_dir), str(codes), "--out-dir", str(out)]) == 0
    assert len(list(out.glob("*.png"))) == len(DIGITS)
    model = VQVAE.from_pretrained(run_dir)
    x = torch.from_numpy(np.array(Image.open(DIGITS[0]))).float().div(255)[None, None]
    assert torch.equal(model.encode(x)[0], torch.from_numpy(array[0].astype(np.int64)))


def test_resume_continues_to_more_epochs(run_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    assert main(["train", "--out", str(copy), "--resume", "--epochs", "3", "--no-progress"]) == 0
    last = json.loads((copy / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["epoch"] == 3 and last["step"] == 24


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vqvae: error: ") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    return err


def test_bad_inputs_give_one_line_and_exit_2(run_dir, tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (28, 28), (10, 200, 30)).save(rgb)
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_codes = tmp_path / "bad.npy"
    np.save(bad_codes, np.full((1, 7, 7), 999, dtype=np.int64))

    assert "missing.png" in _error(
        capsys,
        [
            "reconstruct",
            str(run_dir),
            str(tmp_path / "missing.png"),
            "--out-dir",
            str(tmp_path / "o"),
        ],
    )
    assert "notes.png" in _error(
        capsys, ["encode", str(run_dir), str(text), "-o", str(tmp_path / "c.npy")]
    )
    assert "channel" in _error(
        capsys, ["reconstruct", str(run_dir), str(rgb), "--out-dir", str(tmp_path / "o")]
    )
    assert (
        "no images"
        in _error(capsys, ["train", "--dataset", str(empty), "--out", str(tmp_path / "r")]).lower()
    )
    assert "not a run directory" in _error(capsys, ["eval", str(tmp_path / "nope")])
    assert "config.json" in _error(capsys, ["eval", str(empty)])
    assert "code ids" in _error(
        capsys, ["decode", str(run_dir), str(bad_codes), "--out-dir", str(tmp_path / "d")]
    )
    assert "--data-dir" in _error(
        capsys, ["eval", str(run_dir), "--dataset", "cifar10", "--data-dir", str(empty)]
    )
    rgb_dir = tmp_path / "rgbdir"
    rgb_dir.mkdir()
    Image.new("RGB", (28, 28), (1, 2, 3)).save(rgb_dir / "a.png")
    assert "channel" in _error(capsys, ["eval", str(run_dir), "--dataset", str(rgb_dir)])


def test_bad_input_leaves_existing_output_intact(run_dir, tmp_path, capsys):
    codes = tmp_path / "codes.npy"
    assert main(["encode", str(run_dir), *DIGITS[:2], "-o", str(codes)]) == 0
    before = codes.read_bytes()
    text = tmp_path / "bad.png"
    text.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _error(capsys, ["encode", str(run_dir), DIGITS[0], str(text), "-o", str(codes)])
    assert codes.read_bytes() == before
    assert not list(tmp_path.glob(".codes.npy.*"))


def test_reconstruct_writes_a_readable_grid(tmp_path, capsys):
    """Upscaled pairs with a title line: much larger than the 28x28 digits themselves."""
    from PIL import Image

    from vqvae.codec import PRETRAINED_MNIST

    digits = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*"))
    out = tmp_path / "rec"
    assert main(["reconstruct", str(PRETRAINED_MNIST), *digits[:2], "--out-dir", str(out)]) == 0
    assert "mean PSNR" in capsys.readouterr().out
    argv = ["reconstruct", str(PRETRAINED_MNIST), digits[0], "--out-dir", str(out), "-f"]
    assert main([*argv, "--postfilter", "1.4"]) == 2  # a sound's option
    assert "--postfilter applies to sound" in capsys.readouterr().err
    grid = Image.open(out / "grid.png")
    assert grid.height >= 112 + 28 and grid.width >= 2 * 112

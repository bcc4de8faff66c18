"""``vqvae fit-entropy`` / ``compress`` / ``decompress`` on a tiny run and the packaged model."""

import json
import struct
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.cli import main
from vqvae.codec import PRETRAINED_MNIST, read_header

DIGITS = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*.png"))


def _tiny_run(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    config = VQVAEConfig(
        hidden_channels=8,
        res_channels=4,
        num_res_blocks=1,
        quantizer=QuantizerConfig(codebook_size=16, code_dim=4),
    )
    VQVAE(config).save_pretrained(path, extra={"train": {"dataset": "mnist"}})
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = _tiny_run(tmp_path_factory.mktemp("codec") / "run", seed=0)
    assert main(["fit-entropy", str(run), "--limit", "300"]) == 0
    return run


def test_fit_entropy_writes_counts(run_dir):
    obj = json.loads((run_dir / "entropy.json").read_text())
    assert obj["kind"] == "static" and len(obj["counts"]) == 16
    assert sum(obj["counts"]) == 300 * 7 * 7


def test_compress_decompress_round_trip(run_dir, tmp_path):
    out = tmp_path / "d.vqz"
    assert main(["compress", str(run_dir), DIGITS[0], "-o", str(out)]) == 0
    assert read_header(out.read_bytes()).entropy_name == "static"
    png = tmp_path / "d.png"
    assert main(["decompress", str(out), "-o", str(png), "--model", str(run_dir)]) == 0
    with Image.open(png) as img, Image.open(DIGITS[0]) as ref:
        assert img.size == ref.size and img.mode == "L"


def test_many_files_with_out_dir(run_dir, tmp_path):
    assert main(["compress", str(run_dir), *DIGITS[:3], "--out-dir", str(tmp_path / "z")]) == 0
    files = sorted((tmp_path / "z").glob("*.vqz"))
    assert [f.name for f in files] == [f"{Path(d).name}.vqz" for d in DIGITS[:3]]  # gzip's names
    args = ["decompress", *map(str, files), "--out-dir", str(tmp_path / "png")]
    assert main([*args, "--model", str(run_dir)]) == 0
    found = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert found == sorted(Path(d).name for d in DIGITS[:3])


def _bad_streams(good: bytes, other: bytes) -> dict[str, bytes]:
    body = good[:4] + b"\x07" + good[5:-4]
    return {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "bitflip": good[:-6] + bytes([good[-6] ^ 0x04]) + good[-5:],
        "random": bytes(range(7, 250, 3)),
        "other_model": other,
        "version": body + struct.pack("<I", zlib.crc32(body)),
    }


def test_bad_files_exit_2_without_output(run_dir, tmp_path, capsys):
    good_path, other_path = tmp_path / "good.vqz", tmp_path / "other.vqz"
    other_run = _tiny_run(tmp_path / "other", seed=9)
    assert main(["compress", str(run_dir), DIGITS[1], "-o", str(good_path)]) == 0
    assert main(["compress", str(other_run), DIGITS[1], "-o", str(other_path)]) == 0
    capsys.readouterr()
    for name, data in _bad_streams(good_path.read_bytes(), other_path.read_bytes()).items():
        bad = tmp_path / f"{name}.vqz"
        bad.write_bytes(data)
        out = tmp_path / f"{name}.png"
        assert main(["decompress", str(bad), "-o", str(out), "--model", str(run_dir)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("vqvae: error:") and err.count("\n") == 1, (name, err)
        assert not out.exists(), name
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{name}.png")]


def test_bad_inputs_to_compress(run_dir, tmp_path, capsys):
    out = tmp_path / "x.vqz"
    assert main(["compress", str(run_dir), *DIGITS[:2], "-o", str(out)]) == 2
    assert (
        main(["compress", str(run_dir), DIGITS[0], "missing.png", "--out-dir", str(tmp_path)]) == 2
    )
    assert not out.exists() and not list(tmp_path.glob("*.vqz"))
    assert "missing.png" in capsys.readouterr().err


def test_rd_lambda_makes_smaller_files(run_dir, tmp_path, capsys):
    plain, small = tmp_path / "plain.vqz", tmp_path / "small.vqz"
    assert main(["compress", str(run_dir), DIGITS[0], "-o", str(plain)]) == 0
    assert main(["compress", str(run_dir), DIGITS[0], "--rd-lambda", "1e9", "-o", str(small)]) == 0
    assert small.stat().st_size <= plain.stat().st_size
    out = tmp_path / "x.png"
    assert main(["decompress", str(small), "--model", str(run_dir), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["compress", str(run_dir), DIGITS[0], "--rd-lambda", "-1", "-o", str(plain)]) == 2
    assert "--rd-lambda" in capsys.readouterr().err


def test_packaged_mnist_model_needs_no_run_dir(tmp_path):
    assert (PRETRAINED_MNIST / "config.json").is_file()
    size = sum(p.stat().st_size for p in PRETRAINED_MNIST.iterdir())
    assert size < 3_000_000
    vqz, png = tmp_path / "d.vqz", tmp_path / "d.png"
    assert main(["compress", DIGITS[0], "-o", str(vqz)]) == 0
    assert read_header(vqz.read_bytes()).entropy_name == "static"
    assert main(["decompress", str(vqz), "-o", str(png)]) == 0
    with Image.open(png) as img:
        assert img.size == (28, 28)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("vqvae: error:") and err.count("\n") == 1, err
    return err


def test_missing_entropy_models_say_what_makes_them(tmp_path, capsys):
    run = _tiny_run(tmp_path / "run", seed=1)  # no entropy.json, no prior
    out = tmp_path / "x.vqz"
    for name, hint in [("static", "vqvae fit-entropy"), ("prior", "vqvae train-prior")]:
        capsys.readouterr()
        assert main(["compress", str(run), DIGITS[0], "--entropy-model", name, "-o", str(out)]) == 2
        assert f"run `{hint} {run}` first" in _one_line_error(capsys), name
    assert not out.exists()


def test_a_run_dirs_file_decoded_without_model_names_the_flag(run_dir, tmp_path, capsys):
    vqz, png = tmp_path / "d.vqz", tmp_path / "d.png"
    assert main(["compress", str(run_dir), DIGITS[0], "-o", str(vqz)]) == 0
    capsys.readouterr()
    assert main(["decompress", str(vqz), "-o", str(png)]) == 2  # the packaged model's turn
    assert "the run that wrote it (vqvae decompress --model RUN_DIR)" in _one_line_error(capsys)
    assert not png.exists()

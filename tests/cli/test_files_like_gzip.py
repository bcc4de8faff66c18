"""compress / decompress name, place and protect files as gzip does (#36, #37): outputs beside
the inputs, -o for one, --out-dir for many, nothing replaced without -f, never an input."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from PIL import Image

from vqvae.cli import main
from vqvae.cli.decompress import decoded_name
from vqvae.codec import decompress, read_header

DIGIT = "examples/digit.png"


def _refused(capsys, argv: list[str]) -> str:
    """Exit 2 with one stderr line; the line."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vqvae: error: "), err
    return err


@pytest.fixture
def digit(tmp_path):
    path = tmp_path / "photo.png"
    shutil.copyfile(DIGIT, path)
    return path


def test_compress_and_decompress_beside_the_input(digit, capsys):
    original = digit.read_bytes()
    assert main(["compress", str(digit)]) == 0
    out = capsys.readouterr().out
    vqz = digit.with_name("photo.png.vqz")
    assert vqz.is_file() and digit.read_bytes() == original
    assert "model mnist" in out and "bpp" in out and "28x28" in out, out  # model and rate
    bpp = 8 * vqz.stat().st_size / (28 * 28)
    assert f"{bpp:.3f} bpp" in out
    # decompress writes photo.png: it exists (the original), so only with -f
    err = _refused(capsys, ["decompress", str(vqz)])
    assert "photo.png: exists; pass -f/--force" in err
    assert digit.read_bytes() == original
    assert main(["decompress", str(vqz), "-f"]) == 0
    assert "wrote 1 image to" in capsys.readouterr().out  # singular
    with Image.open(digit) as img:
        assert img.size == (28, 28)


def test_an_existing_output_is_kept_without_force(digit, tmp_path, capsys):
    vqz = tmp_path / "photo.png.vqz"
    vqz.write_bytes(b"mine")
    err = _refused(capsys, ["compress", str(digit)])
    assert "exists; pass -f/--force" in err and vqz.read_bytes() == b"mine"
    assert main(["compress", str(digit), "--force"]) == 0
    assert read_header(vqz.read_bytes()).width == 28
    target = tmp_path / "other.vqz"
    target.write_bytes(b"mine")
    _refused(capsys, ["compress", str(digit), "-o", str(target)])
    assert target.read_bytes() == b"mine"
    png = tmp_path / "out.png"
    png.write_bytes(b"mine")
    _refused(capsys, ["decompress", str(vqz), "-o", str(png)])
    assert png.read_bytes() == b"mine"


@pytest.mark.parametrize("force", [[], ["-f"]])
def test_an_output_is_never_an_input(digit, tmp_path, capsys, force):
    original = digit.read_bytes()
    err = _refused(capsys, ["compress", str(digit), "-o", str(digit), *force])
    assert "is one of the inputs" in err and digit.read_bytes() == original
    link = tmp_path / "link.vqz"  # the same file by another name
    os.symlink(digit, link)
    _refused(capsys, ["compress", str(digit), "-o", str(link), *force])
    assert digit.read_bytes() == original
    assert main(["compress", str(digit), "-o", str(tmp_path / "a.vqz")]) == 0
    vqz = tmp_path / "a.vqz"
    before = vqz.read_bytes()
    _refused(capsys, ["decompress", str(vqz), "-o", str(vqz), *force])
    assert vqz.read_bytes() == before


def test_two_inputs_never_share_an_output(tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copyfile(DIGIT, tmp_path / sub / "d.png")
    files = [str(tmp_path / "a" / "d.png"), str(tmp_path / "b" / "d.png")]
    assert main(["compress", *files, "--out-dir", str(tmp_path / "z")]) == 0
    assert "wrote 2 files" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "z").iterdir())
    assert names == ["0000_d.png.vqz", "0001_d.png.vqz"]
    err = _refused(capsys, ["compress", *files, "-o", str(tmp_path / "one.vqz")])
    assert "-o takes one input file" in err


def test_nothing_is_written_when_one_input_fails(digit, tmp_path, capsys):
    missing = tmp_path / "missing.png"
    _refused(capsys, ["compress", str(digit), str(missing)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_decoded_names_follow_gzip():
    assert decoded_name("a/photo.png.vqz", ".png") == "photo.png"
    assert decoded_name("photo.vqz", ".png") == "photo.png"
    assert decoded_name("photo.jpg.vqz", ".png") == "photo.png"
    assert decoded_name("speech.wav.vqz", ".wav") == "speech.wav"
    assert decoded_name("speech.flac.vqz", ".wav") == "speech.wav"
    assert decoded_name("data.bin", ".png") == "data.bin.png"
    assert decoded_name(".vqz", ".png") == ".vqz.png"


def test_speech_round_trip_beside_the_input(tmp_path, capsys):
    wav = tmp_path / "speech.wav"
    shutil.copyfile("examples/speech.wav", wav)
    assert main(["compress", str(wav), "--bitrate", "1200"]) == 0
    out = capsys.readouterr().out
    assert "model speech" in out and "bit/s" in out and "stages" in out, out
    vqz = tmp_path / "speech.wav.vqz"
    _refused(capsys, ["decompress", str(vqz)])  # speech.wav exists
    assert main(["decompress", str(vqz), "--out-dir", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "speech.wav").is_file()
    assert "wrote 1 sound to" in capsys.readouterr().out


def test_decompress_reads_only_small_regular_files(tmp_path, capsys):
    if os.path.exists("/dev/zero"):
        started = time.monotonic()
        err = _refused(capsys, ["decompress", "/dev/zero", "-o", str(tmp_path / "z.png")])
        assert "not a regular file" in err and time.monotonic() - started < 30
    fifo = tmp_path / "pipe.vqz"
    os.mkfifo(fifo)
    err = _refused(capsys, ["decompress", str(fifo), "-o", str(tmp_path / "p.png")])
    assert "not a regular file" in err
    big = tmp_path / "big.vqz"
    with open(big, "wb") as handle:  # sparse: no disk used
        handle.truncate((256 << 20) + 1)
    err = _refused(capsys, ["decompress", str(big)])
    assert "over the 256 MiB" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.vqz", "pipe.vqz"]


def test_leftovers_of_a_killed_write_are_removed(digit, tmp_path):
    stale = tmp_path / ".photo.png.vqz.x1y2.tmp"  # what a kill -9 mid-write leaves
    stale.mkdir()
    (stale / "photo.png.vqz").write_bytes(b"half")
    assert main(["compress", str(digit)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "photo.png.vqz"]


def test_python_decompress_finds_the_shipped_model_from_the_file(digit, tmp_path):
    assert main(["compress", str(digit), "-o", str(tmp_path / "d.vqz")]) == 0
    image = decompress((tmp_path / "d.vqz").read_bytes())  # no model: from the fingerprint
    assert image.size == (28, 28) and image.mode == "L"

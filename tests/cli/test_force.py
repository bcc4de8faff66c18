"""Every command that names its own output files refuses to replace one that exists without
-f/--force, before doing any work, and never writes onto an input."""

from pathlib import Path

import pytest

from vqvae.cli import main

DIGITS = sorted(str(p) for p in (Path(__file__).parents[2] / "examples" / "digits").glob("*.png"))


def _refused(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


@pytest.mark.parametrize(
    "command",
    [
        ["corrupt", DIGITS[0], "--noise", "gaussian:0.3"],
        ["reconstruct", "mnist", DIGITS[0]],
        ["denoise", "mnist", DIGITS[0]],
    ],
    ids=["corrupt", "reconstruct", "denoise"],
)
def test_folder_writers_need_force_to_replace(capsys, tmp_path, command):
    out = ["--out-dir", str(tmp_path / "out")]
    assert main([*command, *out]) == 0
    written = {p: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert written
    err = _refused(capsys, [*command, *out])
    assert "exists; pass -f/--force" in err
    assert {p: p.read_bytes() for p in (tmp_path / "out").iterdir()} == written
    assert main([*command, *out, "--force"]) == 0


def test_single_file_writers_need_force_to_replace(capsys, tmp_path):
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"mine")
    err = _refused(capsys, ["sample", "mnist-prior", "-n", "2", "-o", str(grid)])
    assert "exists; pass -f/--force" in err and grid.read_bytes() == b"mine"
    codes = tmp_path / "codes.npy"
    codes.write_bytes(b"mine")
    _refused(capsys, ["encode", "mnist", DIGITS[0], "-o", str(codes)])
    assert codes.read_bytes() == b"mine"
    assert main(["encode", "mnist", DIGITS[0], "-o", str(codes), "-f"]) == 0
    assert codes.read_bytes()[:6] == b"\x93NUMPY"


def test_an_input_is_never_an_output_even_with_force(capsys, tmp_path):
    image = tmp_path / "digit.png"
    image.write_bytes(Path(DIGITS[0]).read_bytes())
    err = _refused(capsys, ["complete", "mnist-prior", str(image), "--keep", "top",
                            "-o", str(image), "-f"])  # fmt: skip
    assert "inputs" in err and image.read_bytes() == Path(DIGITS[0]).read_bytes()

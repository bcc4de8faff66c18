"""benchmarks/denoise.py: networks trained and stored with --train --save-weights give the same
table when loaded back (the default mode, which trains nothing), and the stored networks in
the repository load."""

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import denoise  # noqa: E402

SMALL = ["--test", "16", "--val", "8", "--corruptions", "mask:0.25", "--train-subset", "64"]


def _run(argv, capsys) -> dict:
    threads = torch.get_num_threads()
    try:
        denoise.main(argv)
    finally:
        torch.set_num_threads(threads)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_stored_networks_reproduce_the_trained_table(tmp_path, capsys):
    data = ["--data-dir", str(tmp_path / "none"), "--weights", str(tmp_path / "w")]  # embedded
    trained = _run(SMALL + data + ["--train", "--steps", "2", "--save-weights"], capsys)
    assert json.loads((tmp_path / "w" / "meta.json").read_text())["steps"] == 2
    loaded = _run(SMALL + data, capsys)
    assert loaded == trained
    assert set(loaded["mask:0.25"]) == set(denoise.METHODS)


def test_missing_weights_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        denoise.main(["--weights", str(tmp_path / "nothing")])
    assert exc.value.code == 2


def test_the_stored_mnist_networks_match_their_architecture():
    folder = denoise.WEIGHTS / "denoise-mnist"
    meta = json.loads((folder / "meta.json").read_text())
    assert set(meta["corruptions"]) == set(denoise.CORRUPTIONS)
    for spec in meta["corruptions"]:
        for kind in ("ae", "ours"):
            assert denoise.net_file(folder, kind, spec).is_file()
    assert denoise.net_file(folder, "clean").is_file()

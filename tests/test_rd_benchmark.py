"""benchmarks/rd.py end to end on one MNIST mosaic with the packaged model (the JSON interface)."""

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import rd  # noqa: E402


def test_rd_prints_one_json_line_and_codes_mosaics_in_tiles(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        code = rd.main(
            ["--dataset", "mnist", "--runs", str(rd.PRETRAINED_MNIST), "--limit", "1"]
            + ["--singles", "2", "--out", str(tmp_path), "--data-dir", str(tmp_path)]  # embedded
        )
    finally:
        torch.set_num_threads(threads)
        torch.set_grad_enabled(True)
    assert code == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) == {"dataset", "ours", "jpeg", "webp", "encode_mp_s", "decode_mp_s"}
    assert last["dataset"] == "mnist" and len(last["ours"]) == 1
    assert len(last["webp"]) == len(rd.WEBP_Q) and len(last["jpeg"]) == len(rd.JPEG_Q)
    rows = json.loads((tmp_path / "rd-mnist.json").read_text())["rows"]
    assert rows[0]["tile"] == 28 and 0.99 <= rows[0]["payload_over_ideal"] < 1.01
    assert (tmp_path / "rd-mnist.png").stat().st_size > 0

"""benchmarks/rd.py end to end on one MNIST mosaic with the packaged model (the JSON interface)."""

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import rd  # noqa: E402


def test_rd_prints_one_json_line_and_codes_mosaics_in_tiles(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        code = rd.main(
            ["--dataset", "mnist", "--limit", "1"]  # the shipped mnist model by default
            + ["--singles", "2", "--out", str(tmp_path), "--data-dir", str(tmp_path)]  # embedded
        )
    finally:
        torch.set_num_threads(threads)
        torch.set_grad_enabled(True)
    assert code == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    speeds = {"encode_mp_s", "decode_mp_s", "encode_cpu_mp_s", "decode_cpu_mp_s"}
    assert set(last) == {"dataset", "ours", "jpeg", "webp", "default_speeds"} | speeds
    assert all(last[key] > 0 for key in speeds)
    assert list(last["default_speeds"]) == ["mnist"]
    assert last["default_speeds"]["mnist"]["encode_mp_s"] >= last["encode_mp_s"]
    assert last["dataset"] == "mnist" and len(last["ours"]) == 1
    assert len(last["webp"]) == len(rd.WEBP_Q) and len(last["jpeg"]) == len(rd.JPEG_Q)
    rows = json.loads((tmp_path / "rd-mnist.json").read_text())["rows"]
    assert rows[0]["run"] == "mnist" and rows[0]["rd_lambda"] is None
    assert rows[0]["tile"] == 28 and 0.99 <= rows[0]["payload_over_ideal"] < 1.01
    assert (tmp_path / "rd-mnist.svg").read_text().startswith("<svg")
    assert "WebP" in (tmp_path / "rd-mnist.svg").read_text()


def test_each_dataset_defaults_to_its_shipped_model():
    assert rd.default_runs("mnist") == [Path("mnist")]
    assert rd.default_runs("fashion-mnist") == [Path("fashion-mnist")]
    kodak = ["photo-lo", "photo", "photo-hq", "photo-xhq"]
    assert rd.default_runs("kodak") == [Path(name) for name in kodak]
    assert set(rd.RD_LAMBDAS) <= set(kodak)

"""benchmarks/big_image.py end to end on one small mosaic (the JSON interface)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import big_image  # noqa: E402


def test_big_image_prints_one_json_line_with_time_and_memory_per_coder(capsys):
    assert big_image.main(["--size", "160x120", "--no-webp"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["model"] == "photo" and last["threads"] == 2
    (image,) = last["images"]
    assert (image["width"], image["height"]) == (160, 120)
    for coder in ("ours", "jpeg"):
        r = image[coder]
        assert set(r) == {"bpp", "psnr", "encode_s", "decode_s", "encode_mb", "decode_mb"}
        assert r["bpp"] > 0 and 15 < r["psnr"] < 60 and r["encode_mb"] > 5
    assert image["ours"]["encode_mb"] > image["jpeg"]["encode_mb"]  # torch is in ours


def test_mosaics_are_cut_from_the_photos(tmp_path):
    from PIL import Image

    Image.new("RGB", (481, 321), (10, 20, 30)).save(tmp_path / "a.png")
    Image.new("RGB", (321, 481), (200, 100, 0)).save(tmp_path / "b.png")
    m = big_image.mosaic(1000, 400, tmp_path)
    assert m.shape == (400, 1000, 3)
    assert tuple(m[0, 0]) == (10, 20, 30) and tuple(m[0, 481]) == (200, 100, 0)

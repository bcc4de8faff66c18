"""benchmarks/sharp.py: the miniature end to end (one JSON line, equal bits), and its crop
picker and grid against hand-made images."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import sharp  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "kodak").is_dir(), reason="needs ../shared/data (kodak, bsds500)")
def test_quick_prints_one_json_line_per_arm_at_equal_bits(tmp_path, capsys):
    assert sharp.main(["--quick", "--data-dir", str(DATA), "--out", str(tmp_path)]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) == {"mse", "sharp"}
    for arm in last.values():
        assert {"bpp", "psnr", "ms_ssim", "fd_vqvae"} <= set(arm)
        assert 0 < arm["bpp"] < 2 and 20 < arm["psnr"] < 45 and 0 < arm["ms_ssim"] <= 1
        assert arm["fd_vqvae"] >= 0 and "Kodak" in arm["split"] and arm["steps"] == 2
    assert last["mse"]["bpp"] == last["sharp"]["bpp"]  # frozen codes: the same files' sizes
    tiny = [arm["cifar10"] for arm in last.values()]  # CIFAR-10 test images, whole
    assert (
        tiny[0]["bits_per_image"] == tiny[1]["bits_per_image"] > tiny[0]["payload_bits_per_image"]
    )
    assert all("CIFAR-10 test, first 8" in t["split"] and t["fd_vqvae"] >= 0 for t in tiny)
    saved = json.loads((tmp_path / "sharp.json").read_text())
    assert saved["mse"] == last["mse"] and "start" in saved
    assert Image.open(tmp_path / "sharp.png").size == (3 * 2 * 96 + 8, 2 * 2 * 96 + 4)


def test_busiest_crop_finds_the_textured_corner():
    pixels = np.zeros((64, 96), dtype=np.uint8)
    pixels[32:, 64:] = (np.indices((32, 32)).sum(0) % 2) * 255  # a checkerboard bottom right
    assert sharp.busiest_crop(Image.fromarray(pixels).convert("RGB"), 32) == (64, 32, 96, 64)


def test_grid_places_original_mse_sharp_side_by_side():
    row = [Image.new("RGB", (8, 8), c) for c in ("red", "green", "blue")]
    sheet = sharp.grid([row], 8, gap=2)
    assert sheet.size == (3 * 16 + 4, 16)
    assert [sheet.getpixel((x, 5)) for x in (0, 18, 36)] == [(255, 0, 0), (0, 128, 0), (0, 0, 255)]
    assert sheet.getpixel((16, 5)) == (255, 255, 255)  # the gap


def test_sharp_arm_differs_only_by_its_losses():
    args = sharp.parse_args(["--steps", "7"])
    mse, gan = sharp.arm_flags("mse", args), sharp.arm_flags("sharp", args)
    assert gan[: len(mse)] == mse and "--perceptual-weight" not in mse
    assert "--adversarial-weight" in gan[len(mse) :] and mse[mse.index("--max-steps") + 1] == "7"

"""The recipes of the shipped feature nets run in miniature (2 steps on stand-in data) and
write a folder that loads as a feature net."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vqvae.models.features import FeatureNet

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / script), "--steps", "2", "--batch-size", "4",
         *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_fd_vqvae_recipe_in_miniature(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "cifar10"
    data.mkdir()
    for split in ("train", "test"):  # 8 images each: a 2 x 4 mosaic of 32x32 tiles
        mosaic = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
        Image.fromarray(mosaic).save(data / f"{split}_00.webp", lossless=True)
    np.savez(data / "labels.npz", train=np.arange(8, dtype=np.uint8), test=np.zeros(8, np.uint8))
    result = _run("fd_vqvae.py", "--data", str(data), "--out", str(tmp_path / "net"))
    assert result["steps"] == 2 and 0 <= result["test_accuracy"] <= 1
    net = FeatureNet.from_pretrained(tmp_path / "net")
    assert net.config.arch == "vgg" and net.config.input_size == 32


@pytest.mark.slow
def test_perceptual_recipe_in_miniature(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (tmp_path / "bsds" / split).mkdir(parents=True)
        for i in range(2):
            photo = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
            Image.fromarray(photo).save(tmp_path / "bsds" / split / f"{i}.jpg")
    out = tmp_path / "net"
    result = _run(
        "perceptual.py", "--data", str(tmp_path / "bsds"), "--out", str(out), "--eval-crops", "8"
    )
    assert result["steps"] == 2 and 0 <= result["val_rotation_accuracy"] <= 1
    assert FeatureNet.from_pretrained(out).config.arch == "strided"

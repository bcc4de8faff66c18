"""Every recipe that rebuilds a shipped model runs, in miniature (a few steps per training),
so none rots; recipes/ship.py copies a run into the package layout."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_idx

from vqvae.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p for p in (ROOT / "recipes").glob("*.sh") if p.name != "common.sh")
NEEDS = {
    "fashion-mnist.sh": "fashion-mnist",
    "mnist-prior.sh": "mnist",
}  # recipes that read ../shared/data


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_recipe_runs_in_miniature(recipe, tmp_path, request):
    env = dict(os.environ, VQVAE_RECIPE_STEPS="2", OMP_NUM_THREADS="1")
    if recipe.name in NEEDS:  # a few hundred of its images, as a stand-in
        data = request.getfixturevalue("shared_data")  # skips without ../shared/data
        name = NEEDS[recipe.name]
        for split, prefix, n in (("train", "train", 256), ("test", "t10k", 64)):
            part = load_dataset(name, split, data).subset(n)
            write_idx(tmp_path / "data" / name, prefix, part.images[:, 0].numpy(),
                      part.labels.numpy())  # fmt: skip
        env["VQVAE_DATA_DIR"] = str(tmp_path / "data")
    if recipe.name.startswith("photo"):  # a few small photos in the BSDS500 layout, as a stand-in
        _photo_stand_in(tmp_path / "data" / "bsds500")
        env["VQVAE_DATA_DIR"] = str(tmp_path / "data")
    if recipe.name in ("fsdd.sh", "speech.sh"):  # tone clips named as FSDD's, 2 test, 2 train each
        _fsdd_stand_in(tmp_path / "data" / "fsdd" / "recordings")
        env["VQVAE_DATA_DIR"] = str(tmp_path / "data")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    run = tmp_path / "run"
    done = subprocess.run(["bash", str(recipe), str(run)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run / "config.json").is_file() and (run / "entropy.json").is_file(), done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("{")  # its metrics, as JSON

    sys.path.insert(0, str(ROOT / "recipes"))
    try:
        import ship
    finally:
        sys.path.pop(0)
    ship.ROOT = tmp_path / "repo"  # ship into a scratch copy of the layout, not the package
    target = ship.ship(run, "miniature")
    assert (target / "model.safetensors").is_file()
    assert (target / "prior").is_dir() == (run / "prior").is_dir()
    assert (target / "context").is_dir() == (run / "context").is_dir()


BENCHMARK_RECIPES = sorted((ROOT / "recipes" / "benchmarks").glob("*.sh"))
BENCHMARK_NEEDS = {
    "mnist-best.sh": ["mnist"],
    "fashion-best.sh": ["fashion-mnist"],
    "cifar10-kodak.sh": ["cifar10"],
    "mnist-rate.sh": ["mnist"],
}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", BENCHMARK_RECIPES, ids=[r.stem for r in BENCHMARK_RECIPES])
def test_benchmark_recipe_runs_in_miniature(recipe, tmp_path, shared_data):
    """The scripts that build the benchmarks' trained-from-scratch runs, on a few hundred
    images of their datasets and two steps per training: every run dir they name is made."""
    data = tmp_path / "data"
    for name in BENCHMARK_NEEDS[recipe.name]:
        if name == "cifar10":
            _cifar_stand_in(shared_data, data / "cifar10")
            continue
        for split, prefix, n in (("train", "train", 256), ("test", "t10k", 64)):
            part = load_dataset(name, split, shared_data).subset(n)
            write_idx(data / name, prefix, part.images[:, 0].numpy(), part.labels.numpy())
    env = dict(os.environ, VQVAE_RECIPE_STEPS="2", OMP_NUM_THREADS="1", VQVAE_DATA_DIR=str(data))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    out = tmp_path / "runs"
    done = subprocess.run(["bash", str(recipe), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    named = set(re.findall(r'--out "\$OUT/([\w-]+)"', recipe.read_text()))
    assert named and all((out / n / "model.safetensors").is_file() for n in named), named


def _cifar_stand_in(shared: Path, folder: Path) -> None:
    """256 training and 64 test CIFAR-10 images in the WebP-mosaic layout (32 a row)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    labels = {}
    for split, n in (("train", 256), ("test", 64)):
        part = load_dataset("cifar10", split, shared).subset(n)
        tiles = part.images.permute(0, 2, 3, 1).numpy()  # (n, 32, 32, 3)
        rows = n // 32
        mosaic = tiles.reshape(rows, 32, 32, 32, 3).transpose(0, 2, 1, 3, 4)
        Image.fromarray(mosaic.reshape(rows * 32, 32 * 32, 3)).save(
            folder / f"{split}_00.webp", lossless=True
        )
        labels[split] = part.labels.numpy().astype(np.uint8)
    np.savez(folder / "labels.npz", **labels)


def _photo_stand_in(root: Path) -> None:
    """Smooth random colour images, 80x96 and 96x80, in train/ val/ test/ as JPEG."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 4), ("test", 4)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
            img = Image.fromarray(small).resize((96, 80) if i % 2 else (80, 96), Image.BILINEAR)
            img.save(root / split / f"{i}.jpg", quality=90)


def _fsdd_stand_in(folder: Path) -> None:
    """Voiced tones, 0.3 s at 8 kHz, as recordings/{digit}_{speaker}_{index}.wav (index 3-4:
    test, 5-6: train)."""
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True)
    t = np.arange(2400) / 8000
    for digit in range(2):
        for index in range(3, 7):
            pitch = 100 + 20 * digit + 5 * index
            x = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 6))
            sf.write(str(folder / f"{digit}_stand-in_{index}.wav"), 0.1 * x, 8000, "PCM_16")

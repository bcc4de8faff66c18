"""Every ```python and ```bash block of the README runs as written.

The bash blocks run in order, as a new user runs them, in one fresh folder (a fresh clone):
`examples/` (a link to the repository's), `../shared/data` with tiny stand-ins for the datasets
the README names, and the venv's `vqvae` first on PATH. A later block uses the runs an earlier
one trained (Generation uses Command line's `runs/mnist`), so a step that comes before what
it needs fails here. Budgets are small: every `vqvae train` line gets TRAIN and every
`train-prior` line `--max-steps 2` appended (a run length given wins over the recipe's and the
line's `--max-minutes`), and MNIST is a 192-image stand-in through `$VQVAE_DATA_DIR`, which
comes before the embedded copy. A block whose first line is `# readme-test: skip (WHY)` is
not run (make and pip; torchrun with several processes or machines).
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import write_idx
from PIL import Image

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
BASH = re.findall(r"```bash\n(.*?)```", TEXT, flags=re.S)
SKIP = re.compile(r"# readme-test: skip \((.+)\)")
# k-means++ over a batch's latents would take longer than the three steps
TRAIN = "--max-steps 3 --batch-size 4 --no-kmeans-init"
BUDGETS = {"train": TRAIN, "train-decoder": TRAIN, "train-prior": "--max-steps 2"}
BUDGETS["train-context"] = "--max-steps 2"


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


def smoke(block: str) -> str:
    """The block with small budgets: BUDGETS appended to each command they name."""
    lines = []
    for line in block.replace("\\\n", " ").splitlines():  # one line per command
        command, *comment = re.split(r"(?=\s+#(?:\s|$))", line, maxsplit=1)
        match = re.match(r"\s*vqvae\s+([\w-]+)", command)
        if match and match.group(1) in BUDGETS:
            command = f"{command} {BUDGETS[match.group(1)]}"
        lines.append(command + "".join(comment))
    return "\n".join(lines) + "\n"


def _skip_reason(block: str) -> str | None:
    match = SKIP.match(block.lstrip())
    return match.group(1) if match else None


def test_smoke_budgets_only_touch_training_commands():
    block = (
        "# readme-test: skip (x)\n"
        "vqvae train --out runs/a   # vqvae train-prior in a comment\n"
        "vqvae train-prior runs/a \\\n  --max-minutes 7\n"
        "vqvae eval runs/a --json\n"
    )
    assert smoke(block).splitlines() == [
        "# readme-test: skip (x)",
        f"vqvae train --out runs/a {TRAIN}   # vqvae train-prior in a comment",
        "vqvae train-prior runs/a    --max-minutes 7 --max-steps 2",
        "vqvae eval runs/a --json",
    ]
    assert _skip_reason(block) == "x" and _skip_reason("vqvae eval x\n") is None


def _crops(photo: np.ndarray, n: int, size: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = size
    ys = rng.integers(0, photo.shape[0] - h + 1, n)
    xs = rng.integers(0, photo.shape[1] - w + 1, n)
    return np.stack([photo[y : y + h, x : x + w] for y, x in zip(ys, xs, strict=True)])


def _stand_in_data(data: Path) -> None:
    """Tiny datasets where the README's commands look: MNIST (real digits), CIFAR-10 (WebP
    mosaic layout), image folders and FSDD, all cut from the example images and speech."""
    from vqvae.data import load_dataset

    mnist = data / "mnist"
    mnist.mkdir(parents=True)
    for split, prefix, n in [("train", "train", 128), ("test", "t10k", 64)]:
        digits = load_dataset("mnist", split)
        write_idx(mnist, prefix, digits.images[:n, 0].numpy(), digits.labels[:n].numpy())
    photo = np.asarray(Image.open(ROOT / "examples" / "photo.png").convert("RGB"))
    cifar = data / "cifar10"
    cifar.mkdir()
    for split, rows, seed in [("train", 4, 0), ("test", 2, 1)]:
        tiles = _crops(photo, rows * 32, (32, 32), seed)  # (N, 32, 32, 3), 32 per mosaic row
        mosaic = (
            tiles.reshape(rows, 32, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(rows * 32, -1, 3)
        )
        Image.fromarray(mosaic).save(cifar / f"{split}_00.webp", lossless=True)
    labels = {s: np.arange(n) % 10 for s, n in [("train", 128), ("test", 64)]}
    np.savez(cifar / "labels.npz", **{s: v.astype(np.uint8) for s, v in labels.items()})
    for seed, (folder, suffix, count) in enumerate(
        [("bsds500/train", "jpg", 4), ("kodak", "png", 2)]
    ):
        (data / folder).mkdir(parents=True)
        for i, crop in enumerate(_crops(photo, count, (96, 128), seed=2 + seed)):
            Image.fromarray(crop).save(data / folder / f"stand_in_{i}.{suffix}")
    _fsdd_stand_in(data / "fsdd" / "recordings")


def _fsdd_stand_in(folder: Path) -> None:
    """FSDD-named clips cut from examples/speech.wav (george's "zero".."nine"): each tenth as
    recording index 0 (test) and 5 (train)."""
    import soundfile as sf

    folder.mkdir(parents=True)
    speech, rate = sf.read(str(ROOT / "examples" / "speech.wav"), dtype="int16")
    for digit, clip in enumerate(np.array_split(speech, 10)):
        for index in (0, 5):
            sf.write(str(folder / f"{digit}_george_{index}.wav"), clip, rate, "PCM_16")


@dataclass
class Clone:
    work: Path  # the working folder
    env: dict[str, str]
    done: set[int] = field(default_factory=set)  # the blocks run in it so far


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Clone:
    """The bash blocks' folder and environment; what a block makes stays for the next."""
    root = tmp_path_factory.mktemp("readme")
    work = root / "clone"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    _stand_in_data(root / "shared" / "data")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "VQVAE_DATA_DIR": str(root / "shared" / "data"),
        "VQVAE_CACHE": str(root / "cache"),  # nothing read from or written to the user's cache
        "VQVAE_QUIET": "1",
    }
    return Clone(work, env)


def _run(block: str, work: Path, env: dict[str, str]) -> None:
    script = smoke(block)
    # -x: stderr shows each command before it runs, so the failing one is the last shown
    proc = subprocess.run(
        ["bash", "-euxo", "pipefail", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"README bash block failed (exit {proc.returncode}):\n{script}\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}",
            pytrace=False,
        )


@pytest.mark.parametrize("index", range(len(BASH)), ids=[f"bash{i}" for i in range(len(BASH))])
def test_readme_bash_block_runs(index, fresh_clone):
    """Block ``index``, after the blocks before it (run first when this one is selected alone)."""
    for i in range(index + 1):
        if i not in fresh_clone.done and _skip_reason(BASH[i]) is None:
            _run(BASH[i], fresh_clone.work, fresh_clone.env)
        fresh_clone.done.add(i)
    if reason := _skip_reason(BASH[index]):
        pytest.skip(reason)


def test_most_bash_blocks_run():
    skipped = [b for b in BASH if _skip_reason(b)]
    assert len(BASH) >= 6 and len(skipped) <= 2, [b.splitlines()[0] for b in skipped]


def test_example_images_are_what_examples_readme_says():
    from vqvae.data import load_dataset

    test = load_dataset("mnist", "test").images  # uint8 (N, 1, 28, 28)
    digit = np.asarray(Image.open(ROOT / "examples" / "digit.png"))
    assert digit.shape == (28, 28) and np.array_equal(digit, test[0, 0].numpy())
    sheet = np.asarray(Image.open(ROOT / "examples" / "sheet.png"))
    expected = test[:64, 0].reshape(8, 8, 28, 28).permute(0, 2, 1, 3).reshape(224, 224)
    assert np.array_equal(sheet, expected.numpy())
    with Image.open(ROOT / "examples" / "photo.png") as photo:
        assert photo.mode == "RGB" and photo.size == (256, 192)
    for name in re.findall(r"examples/[\w/.-]+\.png", TEXT):
        assert (ROOT / name).is_file(), name

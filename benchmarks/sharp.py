"""Sharp images (issue #39): an MSE-only decoder against an adversarial + perceptual one, at
exactly the same bits.

    python benchmarks/sharp.py [--steps 1600] [--data-dir ../shared/data] [--eval kodak]

Both arms are ``vqvae train-decoder`` fine-tunes of the same start (default: the shipped
``photo`` model): its encoder and codebook copied and frozen, its decoder continued, from the
same seed, for the same steps, on the same data (BSDS500 train + val, random 64x64 crops, as
``recipes/photo.sh``). The ``mse`` arm trains with the reconstruction loss alone; the
``sharp`` arm adds ``--perceptual-weight`` (the shipped ``perceptual`` feature net) and a patch
discriminator (``--adversarial-weight`` with VQGAN's adaptive weight, from
``--adversarial-start``). The codes, so the ``.vqz`` payloads, are identical: "equal bits" is
exact, and the start's context entropy model is carried over to both arms.

Scored on held-out photos only, never the training data: ``--eval kodak`` (default: the 24
Kodak photos, whole 768x512) or ``bsds-test`` (the BSDS500 test split, whole 481x321), each
compressed to a real ``.vqz`` file and decompressed with the arm's codec: ``bpp`` is that
file's size (header included) over H x W pixels; ``psnr`` (RGB, mean per photo), ``ms_ssim``
(mean per photo) and ``fd_vqvae`` (the Fréchet distance of 32x32 tiles in the project's own
CIFAR-10 classifier, ``vqvae eval --fid``; not Inception FID) of the decoded 8-bit photos.
The same arms are also scored on the first ``--cifar-images`` (default 2000) CIFAR-10 test
images, each whole 32x32 image its own ``.vqz`` file (``cifar10`` inside each arm:
``bits_per_image``, ``payload_bits_per_image``, ``bpp``, ``psnr``, ``ms_ssim``, ``fd_vqvae``
over whole images); the decoders never trained on CIFAR-10, and ``fd_vqvae``'s classifier
trained on its train split only. The start model is scored too (``start``, in the table and
the JSON file). ``--reuse`` scores the arms already in ``--out`` instead of training them.
Writes ``sharp.json`` and ``sharp.png`` (crops: original | mse | sharp, 2x) under ``--out``, and
prints one final JSON line ``{"mse": {...}, "sharp": {...}}``, each with ``bpp``, ``psnr``,
``ms_ssim``, ``fd_vqvae`` (and ``split``, ``bpp_from``, ``steps``, ``train_seconds``).
``--quick`` is a miniature (2 steps, 2 crops): a smoke test, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vqvae.codec import compress, decompress, load, read_header  # noqa: E402
from vqvae.data import load_dataset  # noqa: E402
from vqvae.data.folder import list_images  # noqa: E402
from vqvae.evaluation.image import FeatureScores  # noqa: E402
from vqvae.media.image import pixels_chw  # noqa: E402
from vqvae.metrics import psnr  # noqa: E402

SOURCE = ROOT / "src" / "vqvae" / "pretrained" / "photo"
ARMS = ("mse", "sharp")
SPLITS = {
    "kodak": ("kodak", "Kodak, 24 whole photos"),
    "bsds-test": ("bsds500/test", "BSDS500 test"),
}
GRID_CROP = 96  # side of each crop in the grid (shown at 2x)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1600, help="training steps of each arm")
    p.add_argument(
        "--data-dir",
        default=os.environ.get("VQVAE_DATA_DIR", str(ROOT.parent / "shared" / "data")),
        help="holds bsds500/ (training) and kodak/ (default: ../shared/data)",
    )
    p.add_argument("--source", default=str(SOURCE), help="the run both arms start from")
    p.add_argument("--eval", choices=sorted(SPLITS), default="kodak", help="held-out photos")
    p.add_argument("--limit", type=int, default=None, help="only the first N held-out photos")
    p.add_argument(
        "--cifar-images",
        type=int,
        default=2000,
        help="also score the first N CIFAR-10 test images, whole 32x32 (0: not)",
    )
    p.add_argument(
        "--reuse", action="store_true", help="score arms already trained in --out (no training)"
    )
    p.add_argument("--perceptual-weight", type=float, default=1.0)
    p.add_argument("--adversarial-weight", type=float, default=0.8)
    p.add_argument(
        "--feature-weight",
        type=float,
        default=None,
        help="discriminator feature matching (default: the adversarial weight)",
    )
    p.add_argument("--adversarial-start", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (cosine decay)")
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"), help="results folder")
    p.add_argument("--quick", action="store_true", help="a miniature (seconds): smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.limit, args.batch_size = 2, 2, 4
        args.cifar_images = min(args.cifar_images, 8)
    return args


def log(message: str) -> None:
    print(f"[sharp] {message}", file=sys.stderr, flush=True)


def link_training_data(bsds: Path, folder: Path) -> Path:
    """folder/train = BSDS500 train + val, folder/test = a few BSDS500 test photos (the
    training's own progress evaluation only), as symbolic links; returns folder."""
    for split in ("train", "test"):
        (folder / split).mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        for photo in sorted((bsds / split).glob("*.jpg")):
            link = folder / "train" / f"{split}-{photo.name}"
            if not link.exists():
                link.symlink_to(photo.resolve())
    for photo in sorted((bsds / "test").glob("*.jpg"))[:4]:
        link = folder / "test" / photo.name
        if not link.exists():
            link.symlink_to(photo.resolve())
    return folder


def arm_flags(arm: str, args: argparse.Namespace) -> list[str]:
    """The ``train-decoder`` flags of an arm: the same for both but the sharp losses."""
    flags = ["--max-steps", str(args.steps), "--seed", str(args.seed), "--lr", str(args.lr)]
    flags += ["--warmup-steps", str(args.warmup_steps), "--batch-size", str(args.batch_size)]
    flags += ["--random-crop", "64", "--eval-subset", "2", "--eval-every", str(10**9)]
    flags += ["--workers", "0", "--data-loading", "memory"]
    if args.quick:
        flags += ["--train-subset", "8"]
    if arm == "sharp":
        flags += ["--perceptual-weight", str(args.perceptual_weight)]
        flags += ["--adversarial-weight", str(args.adversarial_weight)]
        if args.feature_weight is not None:
            flags += ["--feature-weight", str(args.feature_weight)]
        flags += ["--adversarial-start", str(args.adversarial_start), "--adaptive-weight"]
    return flags


def train_arm(
    arm: str, args: argparse.Namespace, data: Path, runs: Path
) -> tuple[Path, float | None]:
    """Fine-tune the source's decoder into runs/ARM; returns (run dir, seconds; None when
    ``--reuse`` found it trained)."""
    out = runs / arm
    if args.reuse and (out / "model.safetensors").exists():
        log(f"{arm}: reusing {out} (--reuse)")
        return out, None
    command = [sys.executable, "-m", "vqvae", "train-decoder", args.source, "--out", str(out)]
    command += ["--dataset", str(data), *arm_flags(arm, args)]
    if (out / "config.json").exists():  # a previous invocation's run: this one replaces it
        shutil.rmtree(out)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(args.threads)}
    log(f"training {arm} ({args.steps} steps): {' '.join(command[3:])}")
    start = time.perf_counter()
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as child:  # its progress lines, relayed to our stderr
        for line in child.stdout:
            log(f"  {arm}: {line.rstrip()}")
    if child.returncode:
        raise SystemExit(f"sharp.py: training {arm} failed (exit {child.returncode})")
    return out, time.perf_counter() - start


def held_out(args: argparse.Namespace) -> tuple[list[Path], str]:
    """The held-out photos and the split's description."""
    folder, name = SPLITS[args.eval]
    photos = list_images(Path(args.data_dir) / folder)[: args.limit]
    if not photos:
        raise SystemExit(f"sharp.py: no photos in {Path(args.data_dir) / folder}")
    if args.quick:
        return photos, f"{name.split(',')[0]}, central 128x128 crops of {len(photos)} photos"
    return photos, name + (f" (first {len(photos)})" if args.limit else "")


def load_photo(path: Path, quick: bool) -> Image.Image:
    """An RGB photo; in a miniature its central 128x128 crop."""
    image = Image.open(path).convert("RGB")
    if quick:
        w, h = image.size
        image = image.crop(((w - 128) // 2, (h - 128) // 2, (w + 128) // 2, (h + 128) // 2))
    return image


def as_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(pixels_chw(image)).float()[None] / 255


def code_all(run: Path, images: list[Image.Image], every: int) -> dict:
    """Compress each image to its own ``.vqz`` file and decompress it with the run's codec (a
    progress line every ``every`` images): the files' and payloads' bytes, the pixels, the sum
    of per-image PSNR, ``ms_ssim`` and ``fd_vqvae`` over all images, and the decoded images."""
    codec = load(str(run))
    scores = FeatureScores("cpu")
    totals = {"bytes": 0, "payload_bytes": 0, "pixels": 0, "psnr_sum": 0.0, "decoded": []}
    for i, image in enumerate(images):
        data = compress(codec, image)
        back = decompress(data, codec).convert("RGB")
        x, x_hat = as_tensor(image), as_tensor(back)
        totals["bytes"] += len(data)
        totals["payload_bytes"] += read_header(data).payload_length
        totals["pixels"] += image.width * image.height
        totals["psnr_sum"] += float(psnr(x, x_hat)[0])
        scores.update(x, x_hat)
        totals["decoded"].append(back)
        if (i + 1) % every == 0:
            log(f"  {run.name}: {i + 1} of {len(images)} images")
    return {**totals, **scores.result()}


def score(run: Path, photos: list[Image.Image], split: str) -> tuple[dict, list[Image.Image]]:
    """Compress and decompress each photo with the run's codec: the metrics and the decoded
    photos."""
    t = code_all(run, photos, every=8)
    metrics = {
        "bpp": round(8 * t["bytes"] / t["pixels"], 4),
        "psnr": round(t["psnr_sum"] / len(photos), 3),
        "ms_ssim": round(t["ms_ssim"], 4),
        "fd_vqvae": round(t["fd_vqvae"], 3),
        "split": split,
        "bpp_from": "whole .vqz files (header included) / pixels",
    }
    return metrics, t["decoded"]


def cifar_test(args: argparse.Namespace) -> list[Image.Image]:
    """The first ``--cifar-images`` CIFAR-10 test images (none when 0)."""
    if args.cifar_images <= 0:
        return []
    images = load_dataset("cifar10", "test", args.data_dir).images[: args.cifar_images]
    return [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in images]


def score_small(run: Path, images: list[Image.Image], split: str) -> dict:
    """Each small image compressed to its own .vqz file and decoded with the run's codec:
    bits per image (the whole file, and its entropy-coded payload alone), PSNR, MS-SSIM and
    ``fd_vqvae`` over the whole images."""
    t = code_all(run, images, every=500)
    n = len(images)
    return {
        "bits_per_image": round(8 * t["bytes"] / n, 1),
        "payload_bits_per_image": round(8 * t["payload_bytes"] / n, 1),
        "bpp": round(8 * t["bytes"] / t["pixels"], 4),
        "psnr": round(t["psnr_sum"] / n, 3),
        "ms_ssim": round(t["ms_ssim"], 4),
        "fd_vqvae": round(t["fd_vqvae"], 3),
        "split": split,
    }


def busiest_crop(image: Image.Image, side: int) -> tuple[int, int, int, int]:
    """The side x side crop (on a side/2 grid) with the largest gradient energy: detail, where
    blur shows."""
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    energy = np.zeros_like(gray)
    energy[:-1, :-1] = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1]
    best, box = -1.0, (0, 0, side, side)
    for top in range(0, energy.shape[0] - side + 1, side // 2):
        for left in range(0, energy.shape[1] - side + 1, side // 2):
            e = float(energy[top : top + side, left : left + side].sum())
            if e > best:
                best, box = e, (left, top, left + side, top + side)
    return box


def grid(rows: list[list[Image.Image]], side: int, gap: int = 4) -> Image.Image:
    """Rows of images (original | mse | sharp), each cropped at the original's busiest crop
    and shown at 2x (nearest)."""
    cell = 2 * side
    sheet = Image.new("RGB", (3 * cell + 2 * gap, len(rows) * (cell + gap) - gap), "white")
    for r, row in enumerate(rows):
        side_here = min(side, row[0].width, row[0].height)
        box = busiest_crop(row[0], side_here)
        for c, image in enumerate(row):
            crop = image.crop(box).resize((cell, cell), Image.NEAREST)
            sheet.paste(crop, (c * (cell + gap), r * (cell + gap)))
    return sheet


def _relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (results files name no checkout)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def table(results: dict) -> str:
    lines = ["| arm | bpp | PSNR dB | MS-SSIM | fd_vqvae |", "|---|---:|---:|---:|---:|"]
    for arm, m in results.items():
        lines.append(
            f"| {arm} | {m['bpp']:.4f} | {m['psnr']:.2f} | {m['ms_ssim']:.4f} | "
            f"{m['fd_vqvae']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    runs = out / "sharp-runs"
    data = link_training_data(Path(args.data_dir) / "bsds500", runs / "data")
    paths, split = held_out(args)
    photos = [load_photo(p, args.quick) for p in paths]
    tiny = cifar_test(args)
    tiny_split = f"CIFAR-10 test, first {len(tiny)} images, whole 32x32"
    log(f"held out: {split}, {len(photos)} photos; training data: BSDS500 train + val")
    results, decoded, seconds = {}, {}, {}
    for arm in ARMS:
        run, seconds[arm] = train_arm(arm, args, data, runs)
        took = "reused" if seconds[arm] is None else f"{seconds[arm]:.0f} s of training"
        log(f"scoring {arm} ({took})")
        results[arm], decoded[arm] = score(run, photos, split)
        results[arm].update(steps=args.steps, train_seconds=seconds[arm] and round(seconds[arm], 1))
        if tiny:
            log(f"  {arm}: {tiny_split}")
            results[arm]["cifar10"] = score_small(run, tiny, tiny_split)
    log("scoring the start model")
    results["start"], _ = score(Path(args.source), photos, split)
    if tiny:
        results["start"]["cifar10"] = score_small(Path(args.source), tiny, tiny_split)
    rows = [[photos[i], decoded["mse"][i], decoded["sharp"][i]] for i in range(min(4, len(photos)))]
    grid(rows, GRID_CROP).save(out / "sharp.png")
    settings = {k: getattr(args, k) for k in ("steps", "lr", "seed", "batch_size", "threads")}
    settings.update(
        perceptual_weight=args.perceptual_weight,
        adversarial_weight=args.adversarial_weight,
        feature_weight=args.feature_weight,
        adversarial_start=args.adversarial_start,
        source=_relative(Path(args.source)),
    )
    (out / "sharp.json").write_text(json.dumps({**results, "settings": settings}, indent=1))
    print(table(results))
    if tiny:
        print(f"\n{tiny_split}:")
        print(table({arm: m["cifar10"] for arm, m in results.items()}))
    print(f"grid: {out / 'sharp.png'} (rows: original | mse | sharp crops, 2x)")
    print(json.dumps({arm: results[arm] for arm in ARMS}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

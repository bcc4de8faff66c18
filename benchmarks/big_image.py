"""Big photos: time and peak memory of compress and decompress at 3, 12 and 24 megapixels,
against WebP (cwebp / dwebp) and Pillow's JPEG, in the same run.

Each image is a mosaic of BSDS500 test photos (481x321, turned upright ones lying down) cut
to a camera's size (2048x1536, 4032x3024, 6000x4000). Every coder runs in a fresh process
(ours: ``vqvae.codec.compress`` / ``decompress`` with a shipped model, on ``--threads``
threads; JPEG: Pillow at ``--quality``; WebP: the ``cwebp -q`` and ``dwebp`` commands), timed
around the coding call (ours and JPEG: reading the PNG and loading the model excluded; WebP:
the whole command) and measured for its peak resident memory (``ru_maxrss``, the Python
interpreter and torch included for ours). Prints a table, then one JSON line:
``{"model", "threads", "images": [{"megapixels", "width", "height", "ours", "jpeg",
"webp"}]}``, each coder's entry ``{"bpp", "psnr", "encode_s", "decode_s", "encode_mb",
"decode_mb"}``. Needs ``cwebp`` and ``dwebp`` (Debian package ``webp``); ``--no-webp``
leaves WebP out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIZES = {3: (2048, 1536), 12: (4032, 3024), 24: (6000, 4000)}

OURS = """
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from vqvae import codec
model = codec.load(sys.argv[3])
if sys.argv[1] == "encode":
    from vqvae.media.image import load_image
    x = load_image(sys.argv[2])
    started = time.perf_counter()
    data = codec.compress(model, x)
    seconds = time.perf_counter() - started
    open(sys.argv[2] + ".vqz", "wb").write(data)
else:
    data = open(sys.argv[2] + ".vqz", "rb").read()
    started = time.perf_counter()
    image = codec.decompress(data, model)
    seconds = time.perf_counter() - started
    image.save(sys.argv[2] + ".ours.png", compress_level=1)
print(json.dumps({"seconds": seconds}))
"""

JPEG = """
import io, json, sys, time
from PIL import Image
image = Image.open(sys.argv[2]); image.load()
if sys.argv[1] == "encode":
    started = time.perf_counter()
    image.save(sys.argv[2] + ".jpg", quality=int(sys.argv[3]))
    seconds = time.perf_counter() - started
else:
    started = time.perf_counter()
    decoded = Image.open(sys.argv[2] + ".jpg"); decoded.load()
    seconds = time.perf_counter() - started
    decoded.save(sys.argv[2] + ".jpeg.png", compress_level=1)
print(json.dumps({"seconds": seconds}))
"""


def mosaic(width: int, height: int, folder: Path) -> np.ndarray:
    """A ``width x height`` RGB mosaic of the photos in ``folder`` (uint8 (H, W, 3))."""
    files = sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))
    if not files:
        raise SystemExit(f"big_image.py: no photos in {folder} (see --data-dir)")
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    i = 0
    for y in range(0, height, 321):
        for x in range(0, width, 481):
            a = np.asarray(Image.open(files[i % len(files)]).convert("RGB"))
            a = a.transpose(1, 0, 2) if a.shape[0] > a.shape[1] else a
            h, w = min(321, height - y, a.shape[0]), min(481, width - x, a.shape[1])
            canvas[y : y + h, x : x + w] = a[:h, :w]
            i += 1
    return canvas


WRAP = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - started
sys.stderr.write(done.stderr)
lines = done.stdout.strip().splitlines()
result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # its one child
print(json.dumps({**result, "wall": wall, "peak_mb": peak}))
sys.exit(done.returncode)
"""


def measured(argv: list[str], env: dict | None = None) -> tuple[dict, float, float]:
    """Run a command in a process of its own: (its JSON output, wall seconds, peak MB)."""
    done = subprocess.run(
        [sys.executable, "-c", WRAP, *argv], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise SystemExit(f"big_image.py: {argv[0]} failed: {done.stderr[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, result["wall"], result["peak_mb"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def run_coder(name: str, png: Path, original: np.ndarray, args) -> dict:
    """One coder on one mosaic: bpp, PSNR, seconds and peak MB of encoding and decoding."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "VQVAE_QUIET": "1"}
    python = [sys.executable, "-c"]
    if name == "ours":
        extra = [args.model, str(args.threads)]
        enc = measured([*python, OURS, "encode", str(png), *extra], env)
        dec = measured([*python, OURS, "decode", str(png), *extra], env)
        coded, decoded = png.with_name(png.name + ".vqz"), png.with_name(png.name + ".ours.png")
    elif name == "jpeg":
        enc = measured([*python, JPEG, "encode", str(png), str(args.quality)], env)
        dec = measured([*python, JPEG, "decode", str(png)], env)
        coded, decoded = png.with_name(png.name + ".jpg"), png.with_name(png.name + ".jpeg.png")
    else:
        coded, decoded = png.with_name(png.name + ".webp"), png.with_name(png.name + ".webp.png")
        enc = measured(["cwebp", "-quiet", "-q", str(args.quality), str(png), "-o", str(coded)])
        dec = measured(["dwebp", "-quiet", str(coded), "-o", str(decoded)])
    (enc_out, enc_wall, enc_mb), (dec_out, dec_wall, dec_mb) = enc, dec
    pixels = original.shape[0] * original.shape[1]
    return {
        "bpp": coded.stat().st_size * 8 / pixels,
        "psnr": psnr(original, np.asarray(Image.open(decoded).convert("RGB"))),
        "encode_s": enc_out.get("seconds", enc_wall),
        "decode_s": dec_out.get("seconds", dec_wall),
        "encode_mb": enc_mb,
        "decode_mb": dec_mb,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--megapixels", default="3,12,24", help="mosaic sizes: 3, 12, 24 (default all)")
    p.add_argument("--model", default="photo", help="shipped model or run dir (default photo)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quality", type=int, default=75, help="JPEG and WebP quality (default 75)")
    p.add_argument(
        "--data-dir", default=os.environ.get("VQVAE_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    )
    p.add_argument("--no-webp", action="store_true", help="leave out WebP (no cwebp/dwebp)")
    p.add_argument("--size", help="WIDTHxHEIGHT instead of --megapixels (e.g. for a quick run)")
    args = p.parse_args(argv)
    coders = ["ours", "jpeg"] + ([] if args.no_webp else ["webp"])
    if not args.no_webp and not (shutil.which("cwebp") and shutil.which("dwebp")):
        print(
            "big_image.py: needs cwebp and dwebp (Debian package webp), or --no-webp",
            file=sys.stderr,
        )
        return 2
    if args.size:
        sizes = [tuple(int(v) for v in args.size.lower().split("x"))]
    else:
        sizes = [SIZES[int(mp)] for mp in args.megapixels.split(",")]
    folder = Path(args.data_dir) / "bsds500" / "test"
    images = []
    print(
        f"{'image':>11} {'coder':>5} {'bpp':>6} {'PSNR':>6} {'enc s':>7} {'dec s':>7} {'enc MB':>7} {'dec MB':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for width, height in sizes:
            original = mosaic(width, height, folder)
            png = Path(tmp) / f"mosaic-{width}x{height}.png"
            Image.fromarray(original).save(png, compress_level=1)
            row = {"megapixels": round(width * height / 1e6, 2), "width": width, "height": height}
            for name in coders:
                r = row[name] = run_coder(name, png, original, args)
                print(
                    f"{width:>5}x{height:<5} {name:>5} {r['bpp']:6.3f} {r['psnr']:6.2f} "
                    f"{r['encode_s']:7.2f} {r['decode_s']:7.2f} {r['encode_mb']:7.0f} {r['decode_mb']:7.0f}",
                    flush=True,
                )
            images.append(row)
    print(json.dumps({"model": args.model, "threads": args.threads, "images": images}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

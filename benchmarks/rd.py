"""Rate-distortion of the .vqz codec against JPEG and WebP (Pillow), measured in one run.

    python benchmarks/rd.py --dataset mnist|fashion-mnist|cifar10|kodak [--runs RUN_DIR ...]

Reads trained run dirs or shipped models (it never trains); a run with a prior gives two rows,
coded with the prior and with the static distribution. Default: the shipped model for the
dataset (``mnist``, ``fashion-mnist``; ``photo`` for cifar10; for kodak the photo family,
``photo-lo``, ``photo``, ``photo-hq`` and ``photo-xhq``, each also at its ``--rd-lambda``
levels in ``RD_LAMBDAS``), so a fresh clone reproduces the tables with no training; ``--runs``
takes run dirs (e.g. ones trained from scratch by the commands in benchmarks/README.md) or
shipped names instead. Each run is one operating point; its first row uses the best entropy
model the run dir has (the prior, else the context model, else ``entropy.json`` from ``vqvae
fit-entropy``, else uniform); a run with a prior or a context model also gives a static row. ``--rd-lambdas`` adds operating points per run: the same model and entropy model
with codes chosen by rate-distortion (``vqvae compress --rd-lambda``).

bpp counts whole files (our header, JPEG/WebP headers) over pixels (H x W). For the 28x28 and
32x32 datasets the figures are on 10x10 mosaics of test images (so that headers are amortised
as for a photo); single images are reported in the table too. Our mosaics are coded in tiles of
one test image (``compress --tile 28``/``32``: each picture coded as alone, one header);
``--tile 0`` codes them as whole images (the encoder then reaches across the pictures'
borders). Kodak uses its 24 photos (or the first ``--limit``). Writes a table, ``rd-<dataset>.svg`` (the figure; ``--plot-only JSON`` redraws it) and ``rd-<dataset>.json`` under
``--out`` and prints one final JSON line:
``{"dataset", "ours", "jpeg", "webp", "encode_mp_s", "decode_mp_s", "encode_cpu_mp_s",
"decode_cpu_mp_s"}``: the speeds of our slowest point, in megapixels per second of wall time
on ``--threads`` CPU threads (1 by default) and per second of this process's CPU time (all
threads; unlike wall time, not slowed by other programs on the machine), and
``"default_speeds": {run: {"encode_mp_s", "decode_mp_s"}}``, each run's default coding (its
first row: nearest codes, best entropy model). Each codec
compresses and decompresses the first image once untimed before it is measured. bpp and PSNR
do not depend on the thread count.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import figures  # noqa: E402

from vqvae import pretrained  # noqa: E402
from vqvae.codec import (  # noqa: E402
    compress,
    decompress,
    decompress_indices,
    information_bits,
    load,
)
from vqvae.data import load_dataset  # noqa: E402
from vqvae.data.folder import list_images, load_image  # noqa: E402
from vqvae.progress import track  # noqa: E402

SMALL = ("mnist", "fashion-mnist", "cifar10")
# Dense at low quality, where we compare: the curves are concave, so sparse points would make
# the interpolated classic codec look worse than it is. JPEG takes every quality up to 20
# (Kodak: q20 is 0.51 bpp), so "beat JPEG at every rate <= 0.5 bpp" is checked point by point.
JPEG_Q = [*range(1, 21), 30, 50, 75, 90]
# WebP's quality is a float: its first step (q0 -> q1) is 2-3 dB on the small datasets, and
# steepest right after q0 (Fashion-MNIST: q0.01 is already 0.64 dB above q0).
WEBP_Q = [0, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 3, 4, 5, 10, 20, 30, 50, 75, 90]
MS_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
SHIPPED = {
    "mnist": ["mnist"],
    "fashion-mnist": ["fashion-mnist"],
    "cifar10": ["photo"],
    "kodak": ["photo-lo", "photo", "photo-hq", "photo-xhq"],
}
# The shipped photo models' extra operating points (--rd-lambda levels) when rd.py picks the
# runs: photo spans about 0.15-0.33 bpp on Kodak, photo-lo adds lower points at its own
# better rate-distortion, photo-xhq one between photo-hq's and its own.
PHOTO_LAMBDAS = "0.05,0.15,0.4,1"
RD_LAMBDAS = {"photo": PHOTO_LAMBDAS, "photo-lo": "0.15,0.4", "photo-xhq": "0.05"}


def default_runs(dataset: str) -> list[Path]:
    """The shipped models made for ``dataset``."""
    return [Path(name) for name in SHIPPED[dataset]]


def mosaics(images: torch.Tensor, n: int, side: int = 10) -> list[torch.Tensor]:
    """``n`` mosaics of side x side images: uint8 (N, C, h, w) -> [(C, side*h, side*w)]."""
    out = []
    for i in range(n):
        tiles = images[i * side * side : (i + 1) * side * side]
        c, h, w = tiles.shape[1:]
        grid = tiles.view(side, side, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, side * h, side * w)
        out.append(grid.contiguous())
    return out


def to_pil(x: torch.Tensor) -> Image.Image:
    a = x.permute(1, 2, 0).numpy()
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)


def to_tensor(img: Image.Image, channels: int) -> torch.Tensor:
    img = img.convert("L" if channels == 1 else "RGB")
    a = np.asarray(img, dtype=np.uint8)
    a = a[:, :, None] if a.ndim == 2 else a
    return torch.from_numpy(a.copy()).permute(2, 0, 1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = (x.double() - y.double()).pow(2).mean().item()
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> float | None:
    """MS-SSIM (Wang et al. 2003), 5 scales, 11x11 Gaussian (sigma 1.5, separable), fp32.

    None if the image is too small for 5 scales (the single 28x28 / 32x32 images).
    """
    if min(x.shape[-2:]) < 11 * 2**4:
        return None
    a, b = x[None].float() / 255, y[None].float() / 255
    c = a.shape[1]
    g = torch.exp(-((torch.arange(11, dtype=torch.float32) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    gh, gv = g.view(1, 1, 1, 11).expand(c, 1, 1, 11), g.view(1, 1, 11, 1).expand(c, 1, 11, 1)

    def filt(t):
        return F.conv2d(F.conv2d(t, gh, groups=c), gv, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    values = []
    for level in range(5):
        mu_a, mu_b = filt(a), filt(b)
        var_a = filt(a * a) - mu_a**2
        var_b = filt(b * b) - mu_b**2
        cov = filt(a * b) - mu_a * mu_b
        cs = ((2 * cov + c2) / (var_a + var_b + c2)).mean().item()
        if level == 4:
            lum = ((2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)).mean().item()
            values.append(max(lum * cs, 1e-12))
        else:
            values.append(max(cs, 1e-12))
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return float(np.prod([v**w for v, w in zip(values, MS_WEIGHTS, strict=True)]))


def classic(images: list[torch.Tensor], fmt: str, quality: float) -> dict:
    bits, ps, ms = 0, [], []
    pixels = 0
    for x in images:
        buf = io.BytesIO()
        to_pil(x).save(buf, format=fmt, quality=quality)
        y = to_tensor(Image.open(io.BytesIO(buf.getvalue())), x.shape[0])
        bits += 8 * len(buf.getvalue())
        pixels += x.shape[1] * x.shape[2]
        ps.append(psnr(x, y))
        ms.append(ms_ssim(x, y))
    return summary(bits, pixels, ps, ms) | {"quality": quality}


def summary(bits: int, pixels: int, ps: list, ms: list) -> dict:
    ms = [m for m in ms if m is not None]
    return {
        "bpp": bits / pixels,
        "psnr": float(np.mean(ps)),
        "ms_ssim": float(np.mean(ms)) if ms else None,
    }


def ours(codec, images: list[torch.Tensor], rd_lambda: float | None = None, tile: int = 0) -> dict:
    bits, pixels, ps, ms = 0, 0, [], []
    t_enc = t_dec = c_enc = c_dec = 0.0
    payload_bits = ideal_bits = 0.0
    decompress(compress(codec, images[0], rd_lambda=rd_lambda, tile=tile), codec)  # warm-up
    for x in images:
        t0, c0 = time.perf_counter(), time.process_time()
        data = compress(codec, x, rd_lambda=rd_lambda, tile=tile)
        t1, c1 = time.perf_counter(), time.process_time()
        y = to_tensor(decompress(data, codec), x.shape[0])
        t2, c2 = time.perf_counter(), time.process_time()
        t_enc, t_dec = t_enc + t1 - t0, t_dec + t2 - t1
        c_enc, c_dec = c_enc + c1 - c0, c_dec + c2 - c1
        bits += 8 * len(data)
        pixels += x.shape[1] * x.shape[2]
        ps.append(psnr(x, y))
        ms.append(ms_ssim(x, y))
        header, indices = decompress_indices(data, codec)  # outside the timing
        payload_bits += 8 * header.payload_length
        ideal_bits += information_bits(indices, codec.entropy_model)
    out = summary(bits, pixels, ps, ms)
    out["payload_over_ideal"] = payload_bits / ideal_bits  # coder overhead vs sum(-log2 p)
    out["encode_mp_s"] = pixels / 1e6 / t_enc
    out["decode_mp_s"] = pixels / 1e6 / t_dec
    out["encode_cpu_mp_s"] = pixels / 1e6 / max(c_enc, 1e-9)
    out["decode_cpu_mp_s"] = pixels / 1e6 / max(c_dec, 1e-9)
    return out


def interp(curve: list[dict], x: float, key_x: str, key_y: str) -> float | None:
    """Linear interpolation of key_y at key_x = x on a curve sorted by key_x (None outside)."""
    pts = sorted((c[key_x], c[key_y]) for c in curve)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=[*SMALL, "kodak"], help="required unless --plot-only")
    p.add_argument("--runs", nargs="*", default=None, help="run dirs (default: see module doc)")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--limit", type=int, default=None, help="mosaics (small sets) or photos")
    p.add_argument("--singles", type=int, default=500, help="single small images for the table")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (speeds use these)")
    p.add_argument(
        "--entropy", default=None, help="code every run with this entropy model (e.g. static)"
    )
    p.add_argument(
        "--rd-lambdas",
        default=None,
        metavar="L1,L2,...",
        help="extra operating points per run: codes chosen by rate-distortion "
        "(compress --rd-lambda L) with the run's best entropy model (default: none; "
        "RD_LAMBDAS for the shipped photo models)",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        help="code our images in tiles of this side (default: one test image for the "
        "mosaics, none for Kodak; 0: whole images)",
    )
    figures.add_arguments(p, results_dir=False)
    args = p.parse_args(argv)
    if args.plot_only:
        return figures.plot_only("rd", args.plot_only)
    if args.dataset is None:
        p.error("the following arguments are required: --dataset")
    torch.set_grad_enabled(False)
    torch.set_num_threads(args.threads)
    runs = [Path(r) for r in args.runs] if args.runs is not None else default_runs(args.dataset)
    if not runs:
        p.error(f"no run dirs for {args.dataset}; pass --runs")

    def run_lambdas(run: Path) -> list[float]:  # default: RD_LAMBDAS for the shipped models
        given = args.rd_lambdas
        if given is None:
            given = RD_LAMBDAS.get(str(run), "") if args.runs is None else ""
        return [float(v) for v in given.split(",") if v.strip()]

    if args.dataset == "kodak":
        files = list_images(Path(args.data_dir) / "kodak")[: args.limit]
        images, singles = [load_image(f) for f in files], []
        what = f"{len(images)} Kodak photos"
    else:
        test = load_dataset(args.dataset, "test", args.data_dir).images
        images = mosaics(test, args.limit or 10)
        singles = list(test[: args.singles])
        what = f"{len(images)} mosaics of 10x10 test images"
    if args.tile is None:
        args.tile = 0 if args.dataset == "kodak" else test.shape[-1]
    what += f", ours in {args.tile}-pixel tiles" if args.tile else ""

    codecs = []
    for run in runs:
        best = load(run, args.entropy) if args.entropy else load(run)
        codecs.append((run, best, None))
        if not args.entropy and best.entropy_model.name in ("prior", "context"):
            if (
                pretrained.resolve(run) / "entropy.json"
            ).is_file():  # the same codes, without the context
                codecs.append((run, load(run, "static"), None))
        if hasattr(best.model.quantizer, "code_distances"):
            codecs += [(run, best, lam) for lam in run_lambdas(run)]
    rows = []
    for run, codec, lam in track(codecs, desc="our operating points", unit="point"):
        point = ours(codec, images, lam, args.tile)
        if singles:
            single = ours(codec, singles, lam)
            point["single_bpp"], point["single_psnr"] = single["bpp"], single["psnr"]
        cfg = codec.model.config
        point["run"] = str(run.relative_to(ROOT) if run.is_relative_to(ROOT) else run)
        point["f"], point["K"] = cfg.downsample_factor, cfg.quantizer.codebook_size
        point["entropy"] = codec.entropy_model.name
        point["rd_lambda"] = lam
        point["tile"] = args.tile
        rows.append(point)
    jpeg = [classic(images, "JPEG", q) for q in track(JPEG_Q, desc="JPEG qualities", unit="q")]
    webp = [classic(images, "WEBP", q) for q in track(WEBP_Q, desc="WebP qualities", unit="q")]
    if singles:
        for curve, fmt, qs in ((jpeg, "JPEG", JPEG_Q), (webp, "WEBP", WEBP_Q)):
            for c, q in zip(curve, qs, strict=True):
                c["single_bpp"] = classic(singles, fmt, q)["bpp"]

    print(f"{args.dataset}: {what}")
    print(
        f"{'codec':<34}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}{'1-img bpp':>10}"
        f"{'JPEG@bpp':>9}{'WebP@bpp':>9}{'WebP bpp/ours':>14}{'enc MP/s':>9}{'dec MP/s':>9}"
        f"{'payload/ideal':>14}"
    )
    for r in rows:
        jp, wp = interp(jpeg, r["bpp"], "bpp", "psnr"), interp(webp, r["bpp"], "bpp", "psnr")
        wb = interp(webp, r["psnr"], "psnr", "bpp")
        r["jpeg_psnr_at_bpp"], r["webp_psnr_at_bpp"] = jp, wp
        r["webp_bpp_ratio"] = wb / r["bpp"] if wb is not None else None
        rd = f" rd{r['rd_lambda']:g}" if r["rd_lambda"] is not None else ""
        name = f"{r['run']} (f{r['f']} K{r['K']} {r['entropy']}{rd})"
        print(
            f"{name[-34:]:<34}{r['bpp']:8.3f}{r['psnr']:8.2f}{_f(r['ms_ssim'], 9, 4)}"
            f"{_f(r.get('single_bpp'), 10, 3)}{_f(jp, 9, 2)}{_f(wp, 9, 2)}"
            f"{_f(r['webp_bpp_ratio'], 14, 2)}{r['encode_mp_s']:9.3f}{r['decode_mp_s']:9.3f}"
            f"{r['payload_over_ideal']:14.4f}"
        )
    for name, curve in (("JPEG", jpeg), ("WebP", webp)):
        for c in curve:
            print(
                f"{name + ' q' + str(c['quality']):<34}{c['bpp']:8.3f}{c['psnr']:8.2f}"
                f"{_f(c['ms_ssim'], 9, 4)}{_f(c.get('single_bpp'), 10, 3)}"
            )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {"dataset": args.dataset, "rows": rows, "jpeg": jpeg, "webp": webp}
    figures.save("rd", curves, out, f"rd-{args.dataset}")  # rd-<dataset>.json and .svg
    result = {
        "dataset": args.dataset,
        "ours": [[round(r["bpp"], 4), round(r["psnr"], 2)] for r in rows],
        "jpeg": [[round(c["bpp"], 4), round(c["psnr"], 2)] for c in jpeg],
        "webp": [[round(c["bpp"], 4), round(c["psnr"], 2)] for c in webp],
    }
    for key in ("encode_mp_s", "decode_mp_s", "encode_cpu_mp_s", "decode_cpu_mp_s"):
        result[key] = round(min(r[key] for r in rows), 4)
    result["default_speeds"] = {}  # each run's first row: its default coding (nearest codes)
    for r in rows:
        speeds = {k: round(r[k], 4) for k in ("encode_mp_s", "decode_mp_s")}
        result["default_speeds"].setdefault(r["run"], speeds)
    print(json.dumps(result))
    return 0


def _f(value, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"


if __name__ == "__main__":
    raise SystemExit(main())

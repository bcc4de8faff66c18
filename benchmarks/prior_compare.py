"""Compare prior variants on one run's MNIST codes: test bits per image after equal CPU time.

    python benchmarks/prior_compare.py RUN_DIR --minutes 2 [--variants NAME ...]

Encodes the run's train/test splits (cached in RUN_DIR/codes), then trains each variant for the
same wall-clock budget into a scratch copy of the run dir and prints one row per variant plus
one final JSON line {variant: bits_per_image}. The "gated-pixelcnn-*" variants are the Gated
PixelCNN of benchmarks/pixelcnn_prior.py, trained with the same schedule, batch, learning rate,
label dropout and unconditional test NLL as the transformer (`train_pixelcnn`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pixelcnn_prior import train_pixelcnn  # noqa: E402

from vqvae.priors import PriorConfig, load_prior  # noqa: E402
from vqvae.runs import Run  # noqa: E402
from vqvae.train.prior import PriorTrainConfig, train_prior  # noqa: E402

VARIANTS = {
    "2d-L4-C96 (default)": dict(positions="2d", n_layer=4, n_embd=96, n_head=4),
    "1d-L4-C96": dict(positions="1d", n_layer=4, n_embd=96, n_head=4),
    "2d-L4-C128": dict(positions="2d", n_layer=4, n_embd=128, n_head=4),
    "2d-L2-C64": dict(positions="2d", n_layer=2, n_embd=64, n_head=4),
    "2d-L4-C96-dropout0.1": dict(positions="2d", n_layer=4, n_embd=96, n_head=4, dropout=0.1),
}
# Gated PixelCNN (van den Oord et al. 2016): keyword arguments of train_pixelcnn. 8 layers of
# 3x3 reach every earlier code of a 7x7 map; a step costs ~1.5x (C64), ~3x (C96), ~5x (C128)
# the default transformer's (batch 64, 1 thread).
PIXELCNN_VARIANTS = {
    "gated-pixelcnn-L8-C96": dict(layers=8, channels=96, kernel=3),
    "gated-pixelcnn-L8-C64": dict(layers=8, channels=64, kernel=3),
    "gated-pixelcnn-L8-C128": dict(layers=8, channels=128, kernel=3),
}


def run_transformer(name: str, train, test, minutes: float, run_dir: str) -> tuple[dict, int]:
    scratch = Path(tempfile.mkdtemp(prefix="prior-compare-"))
    try:
        for f in ("config.json", "model.safetensors"):
            shutil.copy(Path(run_dir) / f, scratch / f)
        h, w = train.shape
        config = PriorConfig(
            codebook_size=train.codebook_size, height=h, width=w, num_classes=10, **VARIANTS[name]
        )
        result = train_prior(
            config,
            PriorTrainConfig(epochs=1000, max_minutes=minutes),
            train,
            test,
            scratch,
            log=lambda _: None,
        )
        params = sum(p.numel() for p in load_prior(scratch).parameters())
    finally:
        shutil.rmtree(scratch)
    return result, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--variants", nargs="*", default=[*VARIANTS, *PIXELCNN_VARIANTS])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    unknown = [v for v in args.variants if v not in VARIANTS and v not in PIXELCNN_VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {[*VARIANTS, *PIXELCNN_VARIANTS]}")
    torch.set_num_threads(args.threads)
    run = Run(args.run_dir)
    train, test = run.codes("train"), run.codes("test")
    results = {}
    print(f"{'variant':<22} {'params':>9} {'steps':>6} {'minutes':>8} {'test bits/image':>16}")
    for name in args.variants:
        started = time.perf_counter()
        if name in PIXELCNN_VARIANTS:
            # same defaults as PriorTrainConfig: batch 64, AdamW 2e-3, 100 warm-up steps, seed 0
            result = train_pixelcnn(
                train, test, args.minutes, num_classes=10, **PIXELCNN_VARIANTS[name]
            )
            params = result["params"]
        else:
            result, params = run_transformer(name, train, test, args.minutes, args.run_dir)
        results[name] = round(result["bits_per_image"], 2)
        print(
            f"{name:<22} {params:>9} {result['steps']:>6} "
            f"{(time.perf_counter() - started) / 60:>8.2f} {result['bits_per_image']:>16.2f}",
            flush=True,
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""Compare prior variants on one run's MNIST codes: test bits per image after equal CPU time.

    python benchmarks/prior_compare.py RUN_DIR --minutes 2 [--variants NAME ...]

Encodes the run's train/test splits (cached in RUN_DIR/codes), then trains each variant for the
same wall-clock budget into a scratch copy of the run dir and prints one row per variant plus
one final JSON line {variant: bits_per_image}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from vqvae.cli.prior_common import cached_codes
from vqvae.models import VQVAE
from vqvae.priors import PriorConfig, load_prior
from vqvae.train.prior import PriorTrainConfig, train_prior

VARIANTS = {
    "2d-L4-C96 (default)": dict(positions="2d", n_layer=4, n_embd=96, n_head=4),
    "1d-L4-C96": dict(positions="1d", n_layer=4, n_embd=96, n_head=4),
    "2d-L4-C128": dict(positions="2d", n_layer=4, n_embd=128, n_head=4),
    "2d-L2-C64": dict(positions="2d", n_layer=2, n_embd=64, n_head=4),
    "2d-L4-C96-dropout0.1": dict(positions="2d", n_layer=4, n_embd=96, n_head=4, dropout=0.1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = VQVAE.from_pretrained(args.run_dir)
    train = cached_codes(args.run_dir, model, None, "train")
    test = cached_codes(args.run_dir, model, None, "test")
    h, w = train.shape
    results = {}
    print(f"{'variant':<22} {'params':>9} {'steps':>6} {'minutes':>8} {'test bits/image':>16}")
    for name in args.variants:
        scratch = Path(tempfile.mkdtemp(prefix="prior-compare-"))
        for f in ("config.json", "model.safetensors"):
            shutil.copy(Path(args.run_dir) / f, scratch / f)
        config = PriorConfig(
            codebook_size=train.codebook_size, height=h, width=w, num_classes=10, **VARIANTS[name]
        )
        started = time.perf_counter()
        result = train_prior(
            config,
            PriorTrainConfig(epochs=1000, max_minutes=args.minutes),
            train,
            test,
            scratch,
            log=lambda _: None,
        )
        params = sum(p.numel() for p in load_prior(scratch).parameters())
        results[name] = round(result["bits_per_image"], 2)
        print(
            f"{name:<22} {params:>9} {result['steps']:>6} "
            f"{(time.perf_counter() - started) / 60:>8.2f} {result['bits_per_image']:>16.2f}",
            flush=True,
        )
        shutil.rmtree(scratch)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""MNIST reconstruction quality at the Keras VQ-VAE example's rate, in a fixed CPU budget.

The Keras example (keras.io/examples/generative/vq_vae) codes a 28x28 digit as a 7x7 grid of
ids from K=128 codes of dimension 16. We train our default recipe at that rate for
``--minutes`` of wall-clock training and evaluate on the full test split.

    python benchmarks/mnist_quality.py [--minutes 10] [--codebook-size 128] [--code-dim 16]

Prints a table and one final JSON line: {"nmse", "psnr", "usage", "bits_per_code", "seconds", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from vqvae.config import QuantizerConfig, TrainConfig, VQVAEConfig
from vqvae.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--codebook-size", type=int, default=128)
    parser.add_argument("--code-dim", type=int, default=16)
    parser.add_argument("--quantizer", default="ema")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--res-channels", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--lr-schedule", default="cosine", choices=["cosine", "constant"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=os.environ.get("VQVAE_DATA_DIR"))
    parser.add_argument("--out", default=None, help="keep the run dir here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model_config = VQVAEConfig(
        hidden_channels=args.hidden,
        res_channels=args.res_channels,
        downsample_factor=4,
        quantizer=QuantizerConfig(
            kind=args.quantizer, codebook_size=args.codebook_size, code_dim=args.code_dim
        ),
    )
    train_config = TrainConfig.of(
        dataset="mnist",
        data_dir=args.data_dir,
        epochs=1000,  # the time budget ends the run
        max_minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        seed=args.seed,
        device="cpu",
        checkpoint_every=0,
    )
    run_dir = Path(args.out or tempfile.mkdtemp(prefix="vqvae-mnist-"))
    started = time.perf_counter()
    result = train(
        model_config, train_config, run_dir, progress=False, log=lambda m: print(m, flush=True)
    )
    wall = time.perf_counter() - started
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    steps_per_epoch = 60000 // args.batch_size
    epochs = last["step"] / steps_per_epoch
    summary = {
        "nmse": round(result["nmse"], 5),
        "psnr": round(result["psnr"], 3),
        "ssim": round(result["ssim"], 4),
        "usage": round(result["usage"], 4),
        "bits_per_code": round(result["bits_per_code"], 3),
        "perplexity": round(result["perplexity"], 1),
        "seconds": round(wall, 1),
        "train_seconds": round(last["elapsed"], 1),
        "epochs": round(epochs, 2),
        "seconds_per_epoch": round(last["elapsed"] / max(epochs, 1e-9), 1),
        "codebook_size": args.codebook_size,
        "code_dim": args.code_dim,
        "threads": args.threads,
        "lr_schedule": args.lr_schedule,
    }
    print()
    for key, value in summary.items():
        print(f"{key:>18}: {value}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

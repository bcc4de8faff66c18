"""Training throughput (images/s) of the real training loop, on one process or under torchrun.

    python benchmarks/train_throughput.py --device cpu --steps 30
    torchrun --standalone --nproc_per_node=2 benchmarks/train_throughput.py --device cpu
    python benchmarks/train_throughput.py --device cuda --batch-size 256   # bf16 + channels_last

Runs ``vqvae.train.train`` on MNIST for ``--steps`` optimizer steps (no checkpoints, a small
evaluation), then reads the loop's own training time from train_state.pt. Prints a table and
one JSON line: {"device", "world_size", "batch_size", "steps", "seconds", "images_per_s"}.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch

from vqvae import checkpoint
from vqvae.config import QuantizerConfig, TrainConfig, VQVAEConfig
from vqvae.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128, help="global batch")
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()
    model = VQVAEConfig(
        hidden_channels=args.hidden, quantizer=QuantizerConfig(codebook_size=512, code_dim=64)
    )
    with tempfile.TemporaryDirectory() as run_dir:
        schedule = TrainConfig.of(
            epochs=100,
            max_steps=args.steps,
            batch_size=args.batch_size,
            device=args.device,
            eval_subset=256,
            checkpoint_every=0,
        )
        if not train(model, schedule, run_dir, progress=False, log=lambda _: None):
            return  # a rank other than 0 (which alone writes the run dir)
        state = checkpoint.load_train_state(run_dir)
    seconds = float(state["elapsed"])
    device = (
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    result = {
        "device": device,
        "world_size": int(state["world_size"]),
        "batch_size": args.batch_size,
        "steps": int(state["step"]),
        "seconds": round(seconds, 2),
        "images_per_s": round(args.batch_size * int(state["step"]) / seconds, 1),
    }
    print(f"{'device':>8} {'procs':>6} {'batch':>6} {'steps':>6} {'seconds':>8} {'images/s':>9}")
    print(
        f"{result['device']:>8} {result['world_size']:>6} {result['batch_size']:>6} "
        f"{result['steps']:>6} {result['seconds']:>8} {result['images_per_s']:>9}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

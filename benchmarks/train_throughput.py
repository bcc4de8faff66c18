"""Training throughput (images/s) of the real training loop, on one process or under torchrun,
optionally against a plain PyTorch loop of the same network in the same process.

    python benchmarks/train_throughput.py --device cpu --steps 30
    python benchmarks/train_throughput.py --device cpu --reference             # ours / plain
    python benchmarks/train_throughput.py --device cpu --reference --compile   # both compiled
    torchrun --standalone --nproc_per_node=2 benchmarks/train_throughput.py --device cpu
    python benchmarks/train_throughput.py --device cuda --batch-size 256   # bf16 + channels_last

Runs ``vqvae.train.train`` on MNIST for ``--warmup`` + ``--steps`` optimizer steps (no
checkpoints, a small evaluation) and times the ``--steps`` after the warm-up (the first steps
build kernels; with ``--compile`` they compile), step end to step end, so everything the loop
does between steps counts. ``--reference`` also runs ``plain_loop``: the same encoder/decoder,
an EMA codebook written out in a few lines, Adam, the same batch size, in-RAM tensors, timed
the same way; the runs alternate (``--repeats``) and each side's best is kept, which filters
out other load on the machine. Prints a table and one JSON line: {"device", "world_size",
"batch_size", "steps", "seconds", "images_per_s"} (+ "plain_images_per_s", "ratio" with
--reference; "compile" with --compile).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch
import torch.nn.functional as F

from vqvae import checkpoint
from vqvae.config import QuantizerConfig, TrainConfig, VQVAEConfig
from vqvae.data import load_dataset
from vqvae.device import autocast_for, resolve_device
from vqvae.models.build import build_encoder_decoder
from vqvae.train import loop as train_loop
from vqvae.train import train


def model_config(hidden: int) -> VQVAEConfig:
    """The benchmark's network: hidden 128, 2 residual blocks, f = 4, EMA codebook 512 x 64."""
    quantizer = QuantizerConfig(codebook_size=512, code_dim=64)
    return VQVAEConfig(hidden_channels=hidden, quantizer=quantizer)


class StepClock:
    """Times of step ends; ``images_per_s`` over the steps after the warm-up."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.times, self.cpu_times = device, [], []

    def tick(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())
        self.cpu_times.append(time.process_time())

    def images_per_s(self, batch_size: int, warmup: int) -> tuple[float, float, float]:
        """(seconds, images/s, images per CPU second of this process) from the end of step
        ``warmup`` to the end of the last. On a machine shared with other work, the CPU
        measure (with one thread) is the one that does not depend on the others' load."""
        seconds = self.times[-1] - self.times[warmup - 1]
        cpu = self.cpu_times[-1] - self.cpu_times[warmup - 1]
        images = batch_size * (len(self.times) - warmup)
        return seconds, images / seconds, images / cpu


def plain_loop(config: VQVAEConfig, images: torch.Tensor, args, device, clock: StepClock) -> None:
    """The reference: the textbook VQ-VAE step, nothing else (no logging, checks, restarts)."""
    torch.manual_seed(0)
    # on CUDA the layout the real loop uses there (channels_last), so the two differ in nothing else
    layout = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    encoder, decoder = (m.to(device, memory_format=layout) for m in build_encoder_decoder(config))
    if args.compile:
        encoder.compile(), decoder.compile()
    k, d, decay, eps = 512, config.quantizer.code_dim, 0.99, 1e-5
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    images = images.to(device)
    codebook = counts = sums = None
    for _ in range(args.warmup + args.steps):
        x = images[torch.randint(len(images), (args.batch_size,), device=device)]
        x = x.contiguous(memory_format=layout)
        with autocast_for(device):
            z = encoder(x - 0.5)  # (B, D, h, w)
        flat = z.float().permute(0, 2, 3, 1).reshape(-1, d)  # (N, D)
        with torch.no_grad():
            if codebook is None:  # initialised from the first batch's latents
                codebook = flat[torch.randperm(len(flat), device=device)[:k]].clone()
                counts, sums = torch.ones(k, device=device), codebook.clone()
            idx = torch.addmm(codebook.pow(2).sum(1), flat, codebook.t(), alpha=-2.0).argmin(1)
            # per-code counts and sums of the assigned rows (bincount: the fastest on CPU)
            keys = (idx[:, None] * d + torch.arange(d, device=device)).flatten()
            batch_sums = torch.bincount(keys, weights=flat.flatten(), minlength=k * d)
            counts.mul_(decay).add_(torch.bincount(idx, minlength=k), alpha=1 - decay)
            sums.mul_(decay).add_(batch_sums.view(k, d), alpha=1 - decay)
            n = counts.sum()
            codebook.copy_(sums / ((counts + eps) / (n + k * eps) * n)[:, None])
        codes = codebook[idx]
        z_q = (flat + (codes - flat).detach()).view(z.shape[0], *z.shape[2:], d).permute(0, 3, 1, 2)
        with autocast_for(device):
            x_hat = decoder(z_q) + 0.5
        loss = F.mse_loss(x_hat.float(), x) + 0.25 * F.mse_loss(flat, codes)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        clock.tick()


def ours(config: VQVAEConfig, args, clock: StepClock) -> int:
    """vqvae.train.train for warmup + steps steps, each step end recorded by ``clock``; the
    number of processes (0 on ranks other than 0, which alone report)."""
    step = train_loop.Loop.train_step

    def timed(self, *args, **kwargs):
        result = step(self, *args, **kwargs)
        clock.tick()  # the step's end (what the loop does after it lands in the next step)
        return result

    train_loop.Loop.train_step = timed
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            schedule = TrainConfig.of(
                epochs=100,
                max_steps=args.warmup + args.steps,
                batch_size=args.batch_size,
                device=args.device,
                eval_subset=256,
                checkpoint_every=0,
                compile=args.compile,
            )
            if not train(config, schedule, run_dir, progress=False, log=lambda _: None):
                return 0
            return int(checkpoint.load_train_state(run_dir)["world_size"])
    finally:
        train_loop.Loop.train_step = step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=30, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--reference", action="store_true", help="also time the plain loop")
    parser.add_argument("--compile", action="store_true", help="torch.compile encoder/decoder")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per side")
    args = parser.parse_args(argv)
    if args.warmup < 1:
        parser.error("--warmup must be >= 1")
    if args.reference and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        parser.error("--reference compares one process with one process: run it without torchrun")
    device = resolve_device(args.device)
    config = model_config(args.hidden)
    world_size = 1
    best = {"ours": (0.0, 0.0), "plain": (0.0, 0.0)}
    best_cpu = {"ours": 0.0, "plain": 0.0}
    images = load_dataset("mnist", "train").images.float().div(255) if args.reference else None
    for _ in range(args.repeats if args.reference else 1):
        sides = ["plain", "ours"] if args.reference else ["ours"]
        for side in sides:
            clock = StepClock(device)
            if side == "ours":
                world_size = ours(config, args, clock)
                if not world_size:
                    return
            else:
                plain_loop(config, images, args, device, clock)
            seconds, speed, cpu_speed = clock.images_per_s(args.batch_size, args.warmup)
            if speed > best[side][1]:
                best[side] = (seconds, speed)
            best_cpu[side] = max(best_cpu[side], cpu_speed)
    seconds, speed = best["ours"]
    result = {
        "device": device.type,
        "world_size": world_size,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "seconds": round(seconds, 2),
        "images_per_s": round(speed, 1),
    }
    if args.compile:
        result["compile"] = True
    if args.reference:
        result["plain_images_per_s"] = round(best["plain"][1], 1)
        result["ratio"] = round(speed / best["plain"][1], 3)
        result["cpu_images_per_s"] = round(best_cpu["ours"], 1)
        result["plain_cpu_images_per_s"] = round(best_cpu["plain"], 1)
        result["cpu_ratio"] = round(best_cpu["ours"] / best_cpu["plain"], 3)
    print(f"{'device':>8} {'procs':>6} {'batch':>6} {'steps':>6} {'seconds':>8} {'images/s':>9}")
    print(
        f"{result['device']:>8} {result['world_size']:>6} {result['batch_size']:>6} "
        f"{result['steps']:>6} {result['seconds']:>8} {result['images_per_s']:>9}"
    )
    if args.reference:
        print(
            f"plain loop: {result['plain_images_per_s']} images/s; ours / plain = "
            f"{result['ratio']} (per CPU second: {result['cpu_ratio']})"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""GPU speeds for benchmarks/gpu_check.sh: training images/s of the real loop in fp32 and in
bf16 + channels_last (the loop's CUDA default), with and without torch.compile, and the
codec's speed, as one JSON line.

    python benchmarks/gpu_speed.py --device cuda                 # ~2-4 minutes on one GPU
    python benchmarks/gpu_speed.py --device cpu --quick          # a dry run of every part

Training: ``train_throughput.ours`` (vqvae.train.train on MNIST, the default conv model:
hidden 128, codebook 512 x 64), ``--warmup`` untimed steps then ``--steps`` timed, batch
``--batch-size``. fp32 is the same loop with autocast off and the default memory layout.
Codec: the shipped MNIST model on the device: encode and decode of 10 000 test digits in
batches of 1000 (images/s), and ``vqvae.codec`` compress / decompress of 10 mosaics of 10x10
digits (megapixels/s; entropy coding runs on the CPU). ``ratio_vs_plain``: the bf16 loop
against ``train_throughput.plain_loop`` (what per-step checks and syncs cost on the GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import train_throughput  # noqa: E402

from vqvae import codec  # noqa: E402
from vqvae.data import load_dataset  # noqa: E402
from vqvae.device import resolve_device  # noqa: E402
from vqvae.train import loop as train_loop  # noqa: E402


@contextlib.contextmanager
def fp32_loop():
    """The training loop without bf16 autocast and channels_last."""
    autocast, memory_format = train_loop.autocast_for, train_loop._memory_format
    train_loop.autocast_for = lambda device: contextlib.nullcontext()
    train_loop._memory_format = lambda config, device: torch.contiguous_format
    try:
        yield
    finally:
        train_loop.autocast_for, train_loop._memory_format = autocast, memory_format


def train_speed(args, compile: bool, fp32: bool) -> float:
    """Images/s of the training loop over the timed steps."""
    device = resolve_device(args.device)
    run = argparse.Namespace(**{**vars(args), "compile": compile})
    clock = train_throughput.StepClock(device)
    with fp32_loop() if fp32 else contextlib.nullcontext():
        train_throughput.ours(train_throughput.model_config(args.hidden), run, clock)
    return clock.images_per_s(args.batch_size, args.warmup)[1]


def plain_speed(args) -> float:
    """Images/s of train_throughput's plain loop (bf16 + channels_last on CUDA, like ours)."""
    device = resolve_device(args.device)
    run = argparse.Namespace(**{**vars(args), "compile": False})
    images = load_dataset("mnist", "train").images.float().div(255)
    clock = train_throughput.StepClock(device)
    train_throughput.plain_loop(
        train_throughput.model_config(args.hidden), images, run, device, clock
    )
    return clock.images_per_s(args.batch_size, args.warmup)[1]


def _timed(fn) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def codec_speed(args) -> dict[str, float]:
    """Encode/decode images/s and compress/decompress megapixels/s of the shipped MNIST model."""
    device = resolve_device(args.device)
    n, mosaics = (1000, 2) if args.quick else (10_000, 10)
    digits = load_dataset("mnist", "test").images[:n]  # uint8 (n, 1, 28, 28)
    c = codec.load("mnist", device=str(device))
    x = digits.float().div(255).to(device)
    batches = x.split(1000)
    with torch.no_grad():
        c.model.decode(c.model.encode(batches[0]))  # warm up
        encode_s = _timed(lambda: [c.model.encode(b) for b in batches])
        codes = [c.model.encode(b) for b in batches]
        decode_s = _timed(lambda: [c.model.decode(i) for i in codes])
    sheets = [
        digits[i * 100 : (i + 1) * 100].reshape(10, 10, 28, 28).permute(0, 2, 1, 3)
        for i in range(mosaics)
    ]
    sheets = [s.reshape(1, 280, 280) for s in sheets]
    files: list[bytes] = []
    compress_s = _timed(lambda: files.extend(codec.compress(c, s) for s in sheets))
    decompress_s = _timed(lambda: [codec.decompress(f, c) for f in files])
    megapixels = mosaics * 280 * 280 / 1e6
    return {
        "encode_images_per_s": round(n / encode_s, 1),
        "decode_images_per_s": round(n / decode_s, 1),
        "compress_mp_s": round(megapixels / compress_s, 3),
        "decompress_mp_s": round(megapixels / decompress_s, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=40, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps (compilation)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled run")
    parser.add_argument("--quick", action="store_true", help="a dry run: tiny sizes")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.batch_size, args.hidden = 2, 1, 16, 16
    started = time.perf_counter()
    fp32 = train_speed(args, compile=False, fp32=True)
    bf16 = train_speed(args, compile=False, fp32=False)
    result = {
        "device": resolve_device(args.device).type,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "batch_size": args.batch_size,
        "train_fp32_images_per_s": round(fp32, 1),
        "train_bf16_channels_last_images_per_s": round(bf16, 1),
        "bf16_speedup": round(bf16 / fp32, 3),
        "ratio_vs_plain": round(bf16 / plain_speed(args), 3),  # ours / the plain loop
    }
    if not args.no_compile:
        compiled = train_speed(args, compile=True, fp32=False)
        result["train_bf16_channels_last_compile_images_per_s"] = round(compiled, 1)
        result["compile_speedup"] = round(compiled / bf16, 3)
    result.update(codec_speed(args))
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

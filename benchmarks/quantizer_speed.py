"""Forward+backward time of our EMA VQ vs vector_quantize_pytorch.VectorQuantize (issue 7).

Identical settings on both: dim 64, K in {512, 1024, 8192}, 8192 vectors (a (8, 64, 32, 32)
feature map), decay 0.99, commitment weight 0.25, no k-means init, no rotation trick, no
dead-code restarts, training mode (EMA updates included). One process; repetitions interleave
ours / peer / floor so load changes hit all three alike; the statistic is the median.

The floor is the distance matmul alone, ``addmm(||e||^2, z, E^T, alpha=-2)`` on (8192, 64) x
(64, K): any nearest-code quantizer must do at least this much work.

Also checks that K = 65536 runs (the distance is chunked: at most 2^26 floats at a time).

    python benchmarks/quantizer_speed.py [--reps 15] [--device cpu]

Prints a table and one final JSON line {"speedup": ..., "floor_ratio": ...}: speedup is the
median over K of (peer time / our time), floor_ratio the median over K of (our time / matmul).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch

from vqvae import QuantizerConfig, build_quantizer

DIM, N_VECTORS, DECAY, BETA = 64, 8192, 0.99, 0.25
SIZES = (512, 1024, 8192)


def ours(k: int, device: torch.device):
    config = QuantizerConfig(
        kind="ema",
        codebook_size=k,
        code_dim=DIM,
        commitment_weight=BETA,
        decay=DECAY,
        kmeans_init=False,
        dead_code_threshold=0.0,
    )
    return build_quantizer(config).to(device).train()


def peer(k: int, device: torch.device):
    from vector_quantize_pytorch import VectorQuantize

    return (
        VectorQuantize(
            dim=DIM,
            codebook_size=k,
            decay=DECAY,
            commitment_weight=BETA,
            kmeans_init=False,
            rotation_trick=False,
            threshold_ema_dead_code=0,
            accept_image_fmap=True,  # (B, D, H, W) like ours
        )
        .to(device)
        .train()
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_ours(q, z: torch.Tensor, g: torch.Tensor) -> float:
    z = z.detach().requires_grad_(True)
    start = time.perf_counter()
    out = q(z)
    ((out.z_q * g).sum() + out.loss).backward()
    _sync(z.device)
    return time.perf_counter() - start


def time_peer(q, z: torch.Tensor, g: torch.Tensor) -> float:
    z = z.detach().requires_grad_(True)
    start = time.perf_counter()
    quantized, _, loss = q(z)
    ((quantized * g).sum() + loss.sum()).backward()
    _sync(z.device)
    return time.perf_counter() - start


def time_floor(flat: torch.Tensor, codebook: torch.Tensor) -> float:
    start = time.perf_counter()
    torch.addmm(codebook.pow(2).sum(1), flat, codebook.t(), alpha=-2.0)
    _sync(flat.device)
    return time.perf_counter() - start


def check_large_codebook(device: torch.device, k: int = 65536) -> dict[str, float]:
    """One training step at K=65536; reports the growth of the process' peak RSS (CPU)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q = ours(k, device)
    z = torch.randn(8, DIM, 32, 32, device=device)
    seconds = time_ours(q, z, torch.randn_like(z))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_growth_mb": after - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(args.seed)

    large = check_large_codebook(device)  # first, so the peak-RSS growth is its own
    z = torch.randn(8, DIM, 32, 32, device=device)  # 8192 vectors
    g = torch.randn_like(z)
    flat = z.movedim(1, -1).reshape(-1, DIM).contiguous()
    models = {k: (ours(k, device), peer(k, device)) for k in SIZES}
    codebooks = {k: torch.randn(k, DIM, device=device) for k in SIZES}
    times: dict[int, dict[str, list[float]]] = {
        k: {"ours": [], "peer": [], "floor": []} for k in SIZES
    }
    for rep in range(args.warmup + args.reps):
        for k in SIZES:
            mine, theirs = models[k]
            t = (time_ours(mine, z, g), time_peer(theirs, z, g), time_floor(flat, codebooks[k]))
            if rep >= args.warmup:
                for name, value in zip(("ours", "peer", "floor"), t, strict=True):
                    times[k][name].append(value)

    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(
        f"{'K':>6} {'ours ms':>9} {'peer ms':>9} {'matmul ms':>10} {'peer/ours':>10} {'ours/matmul':>12}"
    )
    speedups, floor_ratios = [], []
    for k in SIZES:
        t = times[k]
        ratio = statistics.median(p / o for p, o in zip(t["peer"], t["ours"], strict=True))
        floor = statistics.median(o / f for o, f in zip(t["ours"], t["floor"], strict=True))
        speedups.append(ratio)
        floor_ratios.append(floor)
        print(
            f"{k:>6} {1e3 * statistics.median(t['ours']):>9.2f} {1e3 * statistics.median(t['peer']):>9.2f} "
            f"{1e3 * statistics.median(t['floor']):>10.2f} {ratio:>10.2f} {floor:>12.2f}"
        )
    print(
        f"K=65536: one training step {large['seconds']:.2f} s, "
        f"peak RSS grew {large['peak_rss_growth_mb']:.0f} MB (distance chunked)"
    )
    result = {
        "speedup": round(statistics.median(speedups), 3),
        "floor_ratio": round(statistics.median(floor_ratios), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

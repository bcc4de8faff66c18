"""Quantizer ablation on CIFAR-10 (issue 7): PSNR, codebook usage and perplexity per quantizer.

Every run trains the same small conv VQ-VAE (hidden 64, one residual block, f = 4, code_dim 64,
so 8x8 codes per 32x32 image) for the same number of Adam steps on the same batches from the
same seed; only the quantizer differs. Evaluation: the first ``--eval-images`` test images,
in eval mode, through ``vqvae.evaluation.evaluate`` (usage = fraction of codes used at least
once; multi-stage quantizers count every stage's codes, so rvq's usage is over S*K codes).

Variants (K = codes per codebook):
    vq              gradient-learned codebook, straight-through, no k-means, no restarts
    ema             EMA codebook (van den Oord 2017, App. A.1), no k-means, no restarts
    ema+restart     the library default: EMA + k-means++ init + dead-code restarts
    cosine-lowdim   l2-normalised codes in an 8-dim lookup space (ViT-VQGAN)
    fsq             finite scalar quantization, levels with product K (e.g. 8,8,8 for 512)
    rvq             2-stage residual VQ of default EMA stages (K codes each)
    rotation        vq with the rotation trick instead of straight-through

    python benchmarks/quantizers.py [--data-dir DIR] [--steps 150] [--sizes 512,2048,8192]

Prints a table and one final JSON line {"results": [...], "default_meets_target": bool}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig
from vqvae.data import load_dataset
from vqvae.evaluation import evaluate
from vqvae.quantizers import fsq_levels_for

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures  # noqa: E402

SIZES = (512, 2048, 8192)
PLAIN = dict(kmeans_init=False, dead_code_threshold=0.0)


def variant_config(name: str, k: int) -> QuantizerConfig:
    """The quantizer of one ablation row (everything not named is the library default).

    ``NAME@decay=0.9:thr=0.1:udecay=0.99`` overrides the EMA decay / dead-code threshold /
    restart (recent-usage) decay of row NAME (used to search for a default that meets the
    usage target).
    """
    name, _, overrides = name.partition("@")
    changes, options = {}, {}
    for item in filter(None, overrides.split(":")):
        key, value = item.split("=")
        if key == "udecay":
            options["restart_decay"] = float(value)
        else:
            changes[{"decay": "decay", "thr": "dead_code_threshold"}[key]] = float(value)
    base = QuantizerConfig(codebook_size=k, code_dim=64)
    variants = {
        "vq": dict(kind="vq", **PLAIN),
        "ema": dict(kind="ema", **PLAIN),
        "ema+restart": dict(kind="ema"),
        "cosine-lowdim": dict(kind="cosine", options={"lookup_dim": 8}, **PLAIN),
        "fsq": dict(kind="fsq", options={"levels": fsq_levels_for(k)}),
        "rvq": dict(kind="rvq", options={"num_stages": 2}),
        "rotation": dict(kind="vq", options={"rotation_trick": True}, **PLAIN),
        "cosine+restart": dict(kind="cosine", options={"lookup_dim": 8}),
    }
    config = replace(replace(base, **variants[name]), **changes)
    if options:
        config = replace(config, options={**config.options, **options})
    return config


VARIANTS = ("vq", "ema", "ema+restart", "cosine-lowdim", "fsq", "rvq", "rotation")


def run_one(
    quantizer: QuantizerConfig, train, test, steps: int, batch_size: int, lr: float, seed: int
) -> dict[str, float]:
    torch.manual_seed(seed)
    config = VQVAEConfig(
        in_channels=3,
        image_size=(32, 32),
        hidden_channels=64,
        res_channels=32,
        num_res_blocks=1,
        downsample_factor=4,
        quantizer=quantizer,
    )
    model = VQVAE(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    started = time.perf_counter()
    for step in range(steps):
        start = (step * batch_size) % (len(train) - batch_size)
        x = train.batch(order[start : start + batch_size])
        out = model(x)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
    train_seconds = time.perf_counter() - started
    result = evaluate(model, test, batch_size=250)
    return {
        "psnr": result["psnr"],
        "usage": result["usage"],
        "perplexity": result["perplexity"],
        "seconds": train_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get(
            "VQVAE_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data")
        ),
        help="folder holding cifar10/ (default $VQVAE_DATA_DIR or ../shared/data)",
    )
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-images", type=int, default=1000)
    parser.add_argument("--train-images", type=int, default=20000)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    figures.add_arguments(parser)
    args = parser.parse_args()
    if args.plot_only:
        figures.plot_only("quantizers", args.plot_only)
        return
    torch.set_num_threads(max(1, torch.get_num_threads()))

    train = load_dataset("cifar10", "train", data_dir=args.data_dir).subset(args.train_images)
    test = load_dataset("cifar10", "test", data_dir=args.data_dir).subset(args.eval_images)
    sizes = [int(k) for k in args.sizes.split(",")]
    names = args.variants.split(",")
    print(
        f"CIFAR-10, {args.steps} steps x batch {args.batch_size}, lr {args.lr}, seed {args.seed}, "
        f"eval on {len(test)} test images"
    )
    print(
        f"{'quantizer':<14} {'K':>5} {'PSNR dB':>8} {'usage':>6} {'perplexity':>10} {'train s':>8}"
    )
    results = []
    for k in sizes:
        for name in names:
            r = run_one(
                variant_config(name, k),
                train,
                test,
                args.steps,
                args.batch_size,
                args.lr,
                args.seed,
            )
            results.append({"quantizer": name, "K": k, **{m: round(v, 4) for m, v in r.items()}})
            print(
                f"{name:<14} {k:>5} {r['psnr']:>8.2f} {r['usage']:>6.3f} {r['perplexity']:>10.1f} "
                f"{r['seconds']:>8.1f}",
                flush=True,
            )
    by = {(r["quantizer"], r["K"]): r for r in results}
    default = QuantizerConfig().kind  # the library default is "ema" + k-means + restarts
    meets = None
    if all((key, k) in by for key in ("ema+restart", "ema") for k in SIZES) and default == "ema":
        meets = all(by[("ema+restart", k)]["usage"] >= 0.95 for k in (2048, 8192)) and all(
            by[("ema+restart", k)]["psnr"] >= by[("ema", 512)]["psnr"] for k in (2048, 8192)
        )
    summary = {"results": results, "default_meets_target": meets}
    print(f"figure: {figures.save('quantizers', summary, args.results_dir)}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

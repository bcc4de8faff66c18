"""Denoising benchmark: classical filters vs a continuous autoencoder vs VQ-VAE denoisers.

    python benchmarks/denoise.py --dataset mnist [--test 1000]           # stored networks
    python benchmarks/denoise.py --dataset mnist --train [--minutes 11]  # trains them anew

For each corruption (gaussian:0.2, gaussian:0.5, saltpepper:0.2, mask:0.25) it measures PSNR
and SSIM on the first ``--test`` test images, corrupted with a fixed seed, of

    noisy    the corrupted input itself
    median   scipy median filter        } each tuned per corruption on a validation split
    tv       TV denoising (Chambolle)   } (the last ``--val`` training images, never trained
    nlm      non-local means            }  on) over a small grid, then applied to the test set
    ae       a continuous autoencoder: the same encoder/decoder with the quantizer replaced
             by the identity, fine-tuned as a denoiser (corrupted input, clean target)
    ours     the VQ-VAE fine-tuned as a denoiser (the objective of ``vqvae train --train-noise``)
    proj     projection of the corrupted image through the clean VQ-VAE (``vqvae.denoise``,
             refinement iterations chosen on the validation split); table only

Both networks are first trained on clean images for the same time, then one copy per
corruption is fine-tuned on corrupted input for the same time, so ``ae`` and ``ours`` get
identical compute: the clean VQ-VAE trains for ``--minutes`` / N (N = 2 + 2 x corruptions
networks) and every other network takes the same number of steps (or ``--steps`` each).

The trained networks (float16 weights, about 4 MB) live in ``benchmarks/weights/denoise-DATASET``,
so by default the script only evaluates them; ``--train`` trains them again (and, with
``--save-weights``, replaces the stored ones). Weights are rounded to float16 right after
training, so a fresh training run and the stored networks give the same table.

Prints a table and, last, one JSON line {corruption: {method: psnr}} with the methods
noisy, median, tv, nlm, ae, ours.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy.ndimage import median_filter
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

from vqvae import VQVAE, QuantizerConfig, VQVAEConfig, corrupt, denoise, metrics
from vqvae.data import load_dataset
from vqvae.quantizers import Quantizer, QuantizerOutput

CORRUPTIONS = ["gaussian:0.2", "gaussian:0.5", "saltpepper:0.2", "mask:0.25"]
METHODS = ["noisy", "median", "tv", "nlm", "ae", "ours"]
MEDIAN_SIZES = [2, 3, 4, 5]
TV_WEIGHTS = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8]
NLM_H = [0.03, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6, 0.9]
NLM_PATCH = [3, 5]


class IdentityQuantizer(Quantizer):
    """No quantization: z_q = z_e, so the VQ-VAE becomes a plain (continuous) autoencoder."""

    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        zero = z_e.new_zeros(())
        indices = torch.zeros(z_e.shape[0], *z_e.shape[2:], dtype=torch.long, device=z_e.device)
        return QuantizerOutput(z_e, indices, zero, z_e.new_ones(()), zero, zero)


# ---- networks -------------------------------------------------------------------------------

WEIGHTS = Path(__file__).resolve().parent / "weights"


def round_to_half(model) -> None:
    """Round every parameter and buffer through float16 (the stored precision)."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())


def save_net(model, path: Path) -> None:
    """float16 state dict of ``model`` (a VQ-VAE or the identity-quantizer AE) to ``path``."""
    state = {
        k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous()
        for k, v in model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp))
    tmp.replace(path)


def load_net(model, path: Path):
    state = load_file(str(path))
    reference = model.state_dict()
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
    return model.eval()


def net_file(folder: Path, name: str, spec: str | None = None) -> Path:
    return folder / (
        f"{name}-{spec.replace(':', '-')}.safetensors" if spec else f"{name}.safetensors"
    )


def fit(model, images, steps, seconds, noise, seed, batch_size, lr) -> int:
    """Train ``model`` on uint8 ``images`` (N, C, H, W) for ``steps`` steps, or (steps None)
    for ``seconds`` of wall-clock time; returns the number of steps taken."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    gen = torch.Generator().manual_seed(seed)
    step, start = 0, time.perf_counter()
    while step < steps if steps is not None else time.perf_counter() - start < seconds:
        idx = torch.randint(0, len(images), (batch_size,), generator=gen)
        x = images[idx].float() / 255
        x_in = x if noise is None else corrupt(x, noise, generator=gen)
        out = model(x_in, target=x)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        step += 1
    model.eval()
    return step


@torch.no_grad()
def forward_all(model, x, batch_size=250) -> torch.Tensor:
    return torch.cat([model(c).x_hat.clamp(0, 1) for c in x.split(batch_size)])


# ---- classical baselines --------------------------------------------------------------------


def apply_median(x: np.ndarray, size: int) -> np.ndarray:
    return median_filter(x, size=(1, 1, size, size), mode="reflect")


def _per_image(fn, x: np.ndarray) -> np.ndarray:
    # x (N, C, H, W) -> skimage's (H, W) or (H, W, C) per image
    out = np.empty_like(x)
    for i, img in enumerate(x):
        if img.shape[0] == 1:
            out[i, 0] = fn(img[0], None)
        else:
            out[i] = np.moveaxis(fn(np.moveaxis(img, 0, -1), -1), -1, 0)
    return out


def apply_tv(x: np.ndarray, weight: float) -> np.ndarray:
    return _per_image(lambda im, ax: denoise_tv_chambolle(im, weight=weight, channel_axis=ax), x)


def apply_nlm(x: np.ndarray, param: tuple[float, int]) -> np.ndarray:
    h, patch = param
    return _per_image(
        lambda im, ax: denoise_nl_means(
            im, h=h, patch_size=patch, patch_distance=6, fast_mode=True, channel_axis=ax
        ),
        x,
    )


def score(clean: torch.Tensor, restored) -> tuple[float, float]:
    restored = torch.as_tensor(np.asarray(restored, dtype=np.float32)).clamp(0, 1)
    return float(metrics.psnr(clean, restored).mean()), float(metrics.ssim(clean, restored).mean())


def tune(fn, grid, clean: torch.Tensor, noisy: torch.Tensor):
    """The grid value with the best mean PSNR on the validation pair."""
    scores = [(score(clean, fn(noisy.numpy(), p))[0], p) for p in grid]
    return max(scores, key=lambda s: s[0])[1]


# ---- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    p.add_argument(
        "--minutes",
        type=float,
        default=11.0,
        help="training budget: the clean VQ-VAE trains for MINUTES / N (N = 2 + 2 x corruptions "
        "networks) and every other network then takes the same number of steps",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="steps per network (overrides --minutes)"
    )
    p.add_argument("--test", type=int, default=1000, help="test images evaluated")
    p.add_argument("--val", type=int, default=200, help="validation images for tuning")
    p.add_argument("--train-subset", type=int, default=None, help="training images (default all)")
    p.add_argument("--corruptions", nargs="+", default=CORRUPTIONS)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--codebook-size", type=int, default=256)
    p.add_argument("--code-dim", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--train",
        action="store_true",
        help="train every network anew instead of loading the stored ones",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="folder of stored networks (default: benchmarks/weights/denoise-DATASET)",
    )
    p.add_argument(
        "--save-weights",
        action="store_true",
        help="with --train: write the trained networks to --weights (replacing what is there)",
    )
    args = p.parse_args(argv)
    weights = Path(args.weights) if args.weights else WEIGHTS / f"denoise-{args.dataset}"
    if not args.train and not (weights / "meta.json").is_file():
        p.error(f"no stored networks in {weights}; run with --train to train them")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f}s] {msg}", file=sys.stderr, flush=True)

    data_dir = args.data_dir if Path(args.data_dir).is_dir() else None
    train_set = load_dataset(args.dataset, "train", data_dir)
    test_set = load_dataset(args.dataset, "test", data_dir)
    n_train = len(train_set) - args.val
    train_images = train_set.images[: min(n_train, args.train_subset or n_train)]
    val_clean = train_set.images[n_train:].float() / 255
    test_clean = test_set.images[: args.test].float() / 255

    meta = None if args.train else json.loads((weights / "meta.json").read_text())
    if meta is not None:
        missing = [c for c in args.corruptions if c not in meta["corruptions"]]
        if meta["dataset"] != args.dataset or missing:
            p.error(
                f"{weights} holds networks for {meta['dataset']} {meta['corruptions']}; "
                "use --train for other settings"
            )
        for key in ("hidden", "codebook_size", "code_dim"):
            setattr(args, key, meta[key])
    config = VQVAEConfig(
        in_channels=train_set.channels,
        image_size=train_set.image_size,
        hidden_channels=args.hidden,
        res_channels=32,
        num_res_blocks=2,
        downsample_factor=4,
        quantizer=QuantizerConfig(
            kind="ema", codebook_size=args.codebook_size, code_dim=args.code_dim
        ),
    )
    n_nets = 2 + 2 * len(args.corruptions)
    seconds = args.minutes * 60 / n_nets
    fit_args = {"batch_size": args.batch_size, "lr": args.lr}

    def new_net(kind: str):
        net = VQVAE(config)
        if kind == "ae":
            net.quantizer = IdentityQuantizer(config.quantizer)
        return net

    def trained(kind: str, base, noise: str | None, seed: int):
        """A network fine-tuned from ``base`` (or trained from scratch), rounded to float16."""
        net = copy.deepcopy(base) if base is not None else new_net(kind)
        fit(net, train_images, steps, None, noise, seed, **fit_args)
        round_to_half(net)
        if args.save_weights and noise is not None:  # the clean AE is only a starting point
            save_net(net, net_file(weights, kind, noise))
        return net

    if args.train:
        vq = new_net("ours")
        # Equal steps, not equal wall-clock time, for every network: the CPU is shared, so
        # time budgets would hand the networks very different amounts of training.
        steps = fit(vq, train_images, args.steps, seconds, None, args.seed, **fit_args)
        round_to_half(vq)
        if args.save_weights:
            save_net(vq, net_file(weights, "clean"))
        ae = trained("ae", None, None, args.seed)
        log(f"clean VQ-VAE and AE: {steps} steps each")
    else:
        steps = meta["steps"]
        vq = load_net(new_net("ours"), net_file(weights, "clean"))
        log(f"loaded the networks in {weights} ({steps} training steps each)")
    log(f"clean VQ-VAE: test psnr {score(test_clean, forward_all(vq, test_clean))[0]:.2f}")

    results: dict[str, dict[str, tuple[float, float]]] = {}
    notes: dict[str, str] = {}
    for k, spec in enumerate(args.corruptions):
        val_noisy = corrupt(val_clean, spec, seed=10_000 + k)
        test_noisy = corrupt(test_clean, spec, seed=20_000 + k)
        row: dict[str, tuple[float, float]] = {"noisy": score(test_clean, test_noisy)}
        chosen = {}
        for name, fn, grid in [
            ("median", apply_median, MEDIAN_SIZES),
            ("tv", apply_tv, TV_WEIGHTS),
            ("nlm", apply_nlm, [(h, ps) for h in NLM_H for ps in NLM_PATCH]),
        ]:
            chosen[name] = tune(fn, grid, val_clean, val_noisy)
            row[name] = score(test_clean, fn(test_noisy.numpy(), chosen[name]))
        log(f"{spec}: classical done ({chosen})")

        # Projection through the clean VQ-VAE, refinement iterations picked on validation.
        val_proj = [score(val_clean, denoise(vq, val_noisy, iterations=i))[0] for i in range(3)]
        iters = int(np.argmax(val_proj))
        row["proj"] = score(test_clean, denoise(vq, test_noisy, iterations=iters))
        chosen["proj_iterations"] = iters
        chosen["proj_val_psnr_by_iterations"] = [round(v, 2) for v in val_proj]

        for name, base in [("ae", ae if args.train else None), ("ours", vq)]:
            if args.train:
                net = trained(name, base, spec, args.seed + 1 + k)
            else:
                net = load_net(new_net(name), net_file(weights, name, spec))
            row[name] = score(test_clean, forward_all(net, test_noisy))
        log(f"{spec}: {json.dumps({m: round(v[0], 2) for m, v in row.items()})}")
        results[spec] = row
        notes[spec] = json.dumps(chosen)
    if args.train and args.save_weights:
        record = {"dataset": args.dataset, "steps": steps, "corruptions": args.corruptions}
        record |= {k: getattr(args, k) for k in ("hidden", "codebook_size", "code_dim")}
        record |= {"batch_size": args.batch_size, "lr": args.lr, "seed": args.seed}
        record["train_seconds"] = round(time.perf_counter() - t0)
        (weights / "meta.json").write_text(json.dumps(record, indent=1) + "\n")

    rows = METHODS + ["proj"]
    print(
        f"\n{args.dataset}: PSNR dB / SSIM on {len(test_clean)} test images "
        f"({steps} steps per network; {time.perf_counter() - t0:.0f} s wall)"
    )
    print(f"{'method':<8}" + "".join(f"{spec:>20}" for spec in results))
    for m in rows:
        cells = "".join(f"{results[s][m][0]:>12.2f} / {results[s][m][1]:.3f}" for s in results)
        print(f"{m:<8}{cells}")
    for spec, note in notes.items():
        print(f"tuned {spec}: {note}")
    summary = {s: {m: round(results[s][m][0], 2) for m in METHODS} for s in results}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

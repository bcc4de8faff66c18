"""Copy a finished recipe run into the package as a shipped model.

    python recipes/ship.py RUN_DIR NAME [--half]

Copies what decoding and sampling need (config.json, model.safetensors, entropy.json,
prior/, context/ and rate_prior/ where the run has them) into src/vqvae/pretrained/NAME/, replacing
what was there; MODEL.md and zoo.json are written by hand from the benchmark results.
``--half`` stores the VQ-VAE's float32 weights as float16 (half the bytes; loading casts them
back to float32, so the shipped model is the rounded one), for models with no prior, context
or rate prior (those are stamped with the weights file's bytes).
Changing a shipped model changes its fingerprint: .vqz files written with the old one no
longer decode with it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from vqvae.checkpoint import save_weights

ROOT = Path(__file__).resolve().parents[1]
FILES = ("config.json", "model.safetensors", "entropy.json")
FOLDERS = {
    "prior": ("config.json", "model.safetensors"),
    "context": ("config.json", "model.safetensors"),
    "rate_prior": ("config.json", "model.safetensors"),
}


FLOAT16_MAX = 65504.0


def half_precision(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every finite float32 tensor within float16's range as float16; the rest unchanged."""
    out = {}
    for key, t in tensors.items():
        fits = t.dtype == torch.float32 and bool(torch.isfinite(t).all())
        fits = fits and (t.numel() == 0 or float(t.abs().max()) <= FLOAT16_MAX)
        out[key] = t.half() if fits else t
    return out


def ship(run: Path, name: str, half: bool = False) -> Path:
    if not (run / "config.json").is_file():
        raise SystemExit(f"{run}: not a run directory")
    stamped = [f for f in FOLDERS if (run / f / "config.json").is_file()]
    if half and stamped:
        raise SystemExit(
            f"{run}: --half would orphan its {', '.join(stamped)} (stamped with the weights)"
        )
    target = ROOT / "src" / "vqvae" / "pretrained" / name
    target.mkdir(parents=True, exist_ok=True)
    for file in FILES:
        if (run / file).is_file():
            shutil.copyfile(run / file, target / file)
    for folder, files in FOLDERS.items():
        shutil.rmtree(target / folder, ignore_errors=True)
        if (run / folder / "config.json").is_file():
            (target / folder).mkdir()
            for file in files:
                shutil.copyfile(run / folder / file, target / folder / file)
    if half:
        weights = target / "model.safetensors"
        save_weights(weights, half_precision(load_file(str(weights))))
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"shipped {run} as {name}: {target} ({size / 1e6:.2f} MB)")
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Copy a finished recipe run into the package.")
    parser.add_argument("run", type=Path, help="the recipe's run dir")
    parser.add_argument("name", help="the shipped model's name")
    parser.add_argument("--half", action="store_true", help="store the weights as float16")
    args = parser.parse_args()
    ship(args.run, args.name, half=args.half)

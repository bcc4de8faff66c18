"""Copy a finished recipe run into the package as a shipped model.

    python recipes/ship.py RUN_DIR NAME

Copies what decoding and sampling need (config.json, model.safetensors, entropy.json,
prior/, context/ and rate_prior/ where the run has them) into src/vqvae/pretrained/NAME/, replacing
what was there; MODEL.md and zoo.json are written by hand from the benchmark results.
Changing a shipped model changes its fingerprint: .vqz files written with the old one no
longer decode with it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("config.json", "model.safetensors", "entropy.json")
FOLDERS = {
    "prior": ("config.json", "model.safetensors"),
    "context": ("config.json", "model.safetensors"),
    "rate_prior": ("config.json", "model.safetensors"),
}


def ship(run: Path, name: str) -> Path:
    if not (run / "config.json").is_file():
        raise SystemExit(f"{run}: not a run directory")
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
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"shipped {run} as {name}: {target} ({size / 1e6:.2f} MB)")
    return target


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python recipes/ship.py RUN_DIR NAME")
    ship(Path(sys.argv[1]), sys.argv[2])

"""Rebuilds the loss network `perceptual` (src/vqvae/pretrained/perceptual): a strided conv
encoder trained by rotation prediction (Gidaris et al. 2018: which of 0, 90, 180, 270 degrees
a crop was turned by) on random crops of the BSDS500 *training* photos only, so it shares
neither architecture nor data with the scoring net `fd_vqvae`. Fixed steps, seeded, one thread:

    OMP_NUM_THREADS=1 python recipes/perceptual.py [--out DIR] [--steps N] [--data BSDS_DIR]

Prints one JSON line with the rotation accuracy on fixed crops of BSDS500 val (evaluation only)
and the CPU time.
"""

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vqvae.media import load_image
from vqvae.models.features import FeatureNet, FeatureNetConfig, freeze

CROP = 64
MIN_SIDE = 96  # crops of 96 pixels up to the whole short side: scenes, whose orientation shows
CONFIG = FeatureNetConfig(
    arch="strided", widths=(32, 64, 128, 256), num_outputs=4, input_size=None,
    mean=(0.45, 0.45, 0.45), std=(0.25, 0.25, 0.25),
)  # fmt: skip


def load_photos(folder: Path) -> list[torch.Tensor]:
    return [load_image(path, channels=3) for path in sorted(folder.glob("*.jpg"))]


def crops(photos: list[torch.Tensor], n: int, gen: torch.Generator) -> torch.Tensor:
    """n random crops, (n, 3, 64, 64) in [0, 1]: a square from 96 pixels up to the short side
    of a random photo, resized to 64 (antialiased) and flipped left-right half of the time.
    (Crops of 64-160 pixels, mostly texture, left the rotation loss at chance for 600 steps.)"""
    out = []
    for _ in range(n):
        photo = photos[int(torch.randint(0, len(photos), (1,), generator=gen))]
        _, h, w = photo.shape
        side = int(torch.randint(min(MIN_SIDE, h, w), min(h, w) + 1, (1,), generator=gen))
        top = int(torch.randint(0, h - side + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - side + 1, (1,), generator=gen))
        crop = photo[None, :, top : top + side, left : left + side].float() / 255
        crop = F.interpolate(crop, size=(CROP, CROP), mode="bilinear", antialias=True)[0]
        out.append(crop.flip(-1) if torch.rand(1, generator=gen) < 0.5 else crop)
    return torch.stack(out).clamp(0, 1)


def rotated(x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.randint(0, 4, (len(x),), generator=gen)
    return torch.stack([torch.rot90(xi, int(ki), (1, 2)) for xi, ki in zip(x, k, strict=True)]), k


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="src/vqvae/pretrained/perceptual")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-crops", type=int, default=2000)
    p.add_argument(
        "--data", default=os.environ.get("VQVAE_DATA_DIR", "../shared/data") + "/bsds500"
    )
    args = p.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    train = load_photos(Path(args.data) / "train")
    net = FeatureNet(CONFIG)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=args.steps)
    start = time.process_time()
    for step in range(args.steps):
        net.train()
        x, k = rotated(crops(train, args.batch_size, gen), gen)
        loss = F.cross_entropy(net(x), k)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    cpu_s = time.process_time() - start
    val_gen = torch.Generator().manual_seed(1)
    x, k = rotated(crops(load_photos(Path(args.data) / "val"), args.eval_crops, val_gen), val_gen)
    with torch.no_grad():
        acc = float((freeze(net)(x).argmax(1) == k).float().mean())
    result = {
        "val_rotation_accuracy": round(acc, 4),
        "steps": args.steps,
        "train_cpu_s": round(cpu_s),
    }
    net.save_pretrained(args.out, extra={"trained": result})
    print(json.dumps(result))


if __name__ == "__main__":
    main()

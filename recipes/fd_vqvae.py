"""Rebuilds the scoring network `fd_vqvae` (src/vqvae/pretrained/fd_vqvae): a small VGG-style
CIFAR-10 classifier whose pooled 256-d features define vqvae eval --fid's Fréchet distance.
Fixed steps, seeded, one thread:

    OMP_NUM_THREADS=1 python recipes/fd_vqvae.py [--out DIR] [--steps N] [--data CIFAR_DIR]

Trains on the CIFAR-10 training split only (random crops with 4-pixel reflect padding,
horizontal flips; SGD + Nesterov, one-cycle lr, weight decay 5e-4); prints one JSON line with
the test accuracy and the CPU time.
"""

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

from vqvae.data.cifar import load_cifar10
from vqvae.models.features import FeatureNet, FeatureNetConfig, freeze

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # the training split's, per channel
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CONFIG = FeatureNetConfig(
    arch="vgg", widths=(64, 128, 256, 256), num_outputs=10, input_size=32,
    mean=CIFAR_MEAN, std=CIFAR_STD,
)  # fmt: skip


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """uint8 (B, 3, 32, 32) -> float in [0, 1]: a random 32x32 crop of the reflect-padded image
    (4 pixels), flipped left-right half of the time."""
    b = len(x)
    padded = F.pad(x.float() / 255, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2, b), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    out = torch.stack([padded[i, :, dy[i] : dy[i] + 32, dx[i] : dx[i] + 32] for i in range(b)])
    out[flip] = out[flip].flip(-1)
    return out


@torch.no_grad()
def accuracy(net: FeatureNet, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    hits = sum(
        int((net(x[i : i + 500].float() / 255).argmax(1) == y[i : i + 500]).sum())
        for i in range(0, len(x), 500)
    )
    return hits / len(x)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="src/vqvae/pretrained/fd_vqvae")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--data", default=os.environ.get("VQVAE_DATA_DIR", "../shared/data") + "/cifar10"
    )
    args = p.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x_train, y_train = load_cifar10(args.data, "train")
    x_test, y_test = load_cifar10(args.data, "test")
    net = FeatureNet(CONFIG)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=args.steps)
    start = time.process_time()
    for step in range(args.steps):
        net.train()
        idx = torch.randint(0, len(x_train), (args.batch_size,), generator=gen)
        loss = F.cross_entropy(net(augment(x_train[idx], gen)), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    cpu_s = time.process_time() - start
    acc = accuracy(freeze(net), x_test, y_test)
    result = {"test_accuracy": acc, "steps": args.steps, "train_cpu_s": round(cpu_s)}
    net.save_pretrained(args.out, extra={"trained": result})
    print(json.dumps(result))


if __name__ == "__main__":
    main()

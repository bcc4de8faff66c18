#!/usr/bin/env bash
# Builds the three CIFAR-10 models of the Kodak comparison: runs/cifar-f4-k512-rate, runs/cifar-f4-k1024-dec, runs/cifar-f4-k4096-dec
# (about 3.5 CPU-hours on a 2-core CPU), from the repository root with `vqvae` on PATH; the
# results in benchmarks/README.md come from these run dirs.
set -euo pipefail
# runs/cifar-f4-k512-rate: 18 min on 2 threads (4992 steps), static distribution, 20-min prior (1 thread); 24.17 dB, 263.4 bits per 8x8 map
vqvae train --dataset cifar10 --data-dir ../shared/data --out runs/cifar-f4-k512-rate --codebook-size 512 --code-dim 64 --downsample 4 --hidden 128 --rate-weight 0.03 --random-crop 24 --epochs 1000 --max-minutes 18 --seed 0 --eval-subset 2000
vqvae fit-entropy runs/cifar-f4-k512-rate
vqvae train-prior runs/cifar-f4-k512-rate --max-minutes 20 --dropout 0.1
# runs/cifar-f4-k1024-rate: 30 min (3274 steps), 15-min prior, static distribution; its decoder continued 35 min (8689 steps): 24.69 dB, 299.5 bits
vqvae train --dataset cifar10 --data-dir ../shared/data --out runs/cifar-f4-k1024-rate --codebook-size 1024 --code-dim 64 --downsample 4 --hidden 128 --rate-weight 0.02 --random-crop 24 --batch-size 128 --lr 1e-3 --epochs 1000 --max-minutes 30 --seed 0 --eval-subset 2000
vqvae train-prior runs/cifar-f4-k1024-rate --max-minutes 15 --dropout 0.1
vqvae fit-entropy runs/cifar-f4-k1024-rate --limit 10000
vqvae train-decoder runs/cifar-f4-k1024-rate --out runs/cifar-f4-k1024-dec --max-minutes 35 --lr 5e-4
# runs/cifar-f4-k4096-ws: 55 min from K1024-dec (6502 steps), static distribution, 15-min prior; its decoder continued 20 min (3505 steps): 25.75 dB, 358.7 bits
vqvae train --dataset cifar10 --data-dir ../shared/data --out runs/cifar-f4-k4096-ws --codebook-size 4096 --code-dim 64 --downsample 4 --hidden 128 --rate-weight 0.02 --random-crop 24 --batch-size 128 --lr 5e-4 --epochs 1000 --max-minutes 55 --seed 0 --eval-subset 2000 --init-from runs/cifar-f4-k1024-dec
vqvae fit-entropy runs/cifar-f4-k4096-ws --limit 10000
vqvae train-prior runs/cifar-f4-k4096-ws --max-minutes 15 --dropout 0.1
vqvae train-decoder runs/cifar-f4-k4096-ws --out runs/cifar-f4-k4096-dec --max-minutes 20 --lr 5e-4

#!/usr/bin/env bash
# Builds the three CIFAR-10 models of the Kodak comparison: OUT/cifar-f4-k512-rate,
# OUT/cifar-f4-k1024-dec and OUT/cifar-f4-k4096-dec (about 3.5 CPU-hours on a 2-core CPU; OUT
# defaults to runs), from the repository root with `vqvae` on PATH; the CIFAR-10 and Kodak
# rows of benchmarks/README.md come from these run dirs.
#   bash recipes/benchmarks/cifar10-kodak.sh [OUT]
source "$(dirname "$0")/../common.sh"
OUT=${1:-runs}
CIFAR=(--dataset cifar10 --data-dir "$DATA" --code-dim 64 --downsample 4 --hidden 128
  --random-crop 24 --epochs 1000 --seed 0 --eval-subset 2000 --overwrite --quiet)
# OUT/cifar-f4-k512-rate: 18 min on 2 threads (4992 steps), static distribution, 20-min prior (1 thread); 24.17 dB, 263.4 bits per 8x8 map
vqvae train "${CIFAR[@]}" --out "$OUT/cifar-f4-k512-rate" --codebook-size 512 --rate-weight 0.03 \
  $(length 18)
vqvae fit-entropy "$OUT/cifar-f4-k512-rate" $(limit 50000) --quiet
OMP_NUM_THREADS=1 vqvae train-prior "$OUT/cifar-f4-k512-rate" $(length 20) --dropout 0.1 --quiet
# OUT/cifar-f4-k1024-rate: 30 min (3274 steps), 15-min prior, static distribution; its decoder continued 35 min (8689 steps): 24.69 dB, 299.5 bits
vqvae train "${CIFAR[@]}" --out "$OUT/cifar-f4-k1024-rate" --codebook-size 1024 \
  --rate-weight 0.02 --batch-size 128 --lr 1e-3 $(length 30)
vqvae train-prior "$OUT/cifar-f4-k1024-rate" $(length 15) --dropout 0.1 --quiet
vqvae fit-entropy "$OUT/cifar-f4-k1024-rate" $(limit 10000) --quiet
vqvae train-decoder "$OUT/cifar-f4-k1024-rate" --out "$OUT/cifar-f4-k1024-dec" $(length 35) \
  --lr 5e-4 --quiet
# OUT/cifar-f4-k4096-ws: 55 min from K1024-dec (6502 steps), static distribution, 15-min prior; its decoder continued 20 min (3505 steps): 25.75 dB, 358.7 bits
vqvae train "${CIFAR[@]}" --out "$OUT/cifar-f4-k4096-ws" --codebook-size 4096 \
  --rate-weight 0.02 --batch-size 128 --lr 5e-4 $(length 55) --init-from "$OUT/cifar-f4-k1024-dec"
vqvae fit-entropy "$OUT/cifar-f4-k4096-ws" $(limit 10000) --quiet
vqvae train-prior "$OUT/cifar-f4-k4096-ws" $(length 15) --dropout 0.1 --quiet
vqvae train-decoder "$OUT/cifar-f4-k4096-ws" --out "$OUT/cifar-f4-k4096-dec" $(length 20) \
  --lr 5e-4 --quiet

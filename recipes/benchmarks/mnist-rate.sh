#!/usr/bin/env bash
# Builds the three MNIST VQ-VAEs of the prior-architecture section of benchmarks/README.md:
# OUT/mnist-rate0, OUT/mnist-rate03 and OUT/mnist-rate06 (rate weight 0, 0.03, 0.06), 2000 steps
# each (about a minute each on one thread of a 2-core CPU); OUT defaults to runs.
#   bash recipes/benchmarks/mnist-rate.sh [OUT]
source "$(dirname "$0")/../common.sh"
OUT=${1:-runs}
FLAGS=(--overwrite --epochs 1000 $(steps 2000) --checkpoint-every 0 --downsample 4
  --codebook-size 128 --code-dim 16 --quantizer ema --hidden 64 --res-channels 32 --res-blocks 2
  --batch-size 64 --lr 2e-3 --seed 0 --device cpu $(mnist_data) --quiet)
export OMP_NUM_THREADS=1
vqvae train --out "$OUT/mnist-rate0" --rate-weight 0 "${FLAGS[@]}"
vqvae train --out "$OUT/mnist-rate03" --rate-weight 0.03 "${FLAGS[@]}"
vqvae train --out "$OUT/mnist-rate06" --rate-weight 0.06 "${FLAGS[@]}"

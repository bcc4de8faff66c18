#!/usr/bin/env bash
# Builds the best MNIST codec of the rd benchmark: OUT/mnist-long-r15-dec128 (about 75
# CPU-minutes on a 2-core CPU; OUT defaults to runs), from the repository root with `vqvae` on
# PATH; the MNIST rows of benchmarks/README.md come from these run dirs.
#   bash recipes/benchmarks/mnist-best.sh [OUT]
source "$(dirname "$0")/../common.sh"
OUT=${1:-runs}
# OUT/mnist-long-r15: 20 min on 1 thread (12.4k steps), its static distribution, a 15-min prior (2 threads)
OMP_NUM_THREADS=1 vqvae train --out "$OUT/mnist-long-r15" --overwrite --epochs 1000 $(length 20) \
  --checkpoint-every 0 --downsample 4 --codebook-size 128 --code-dim 16 --rate-weight 0.15 \
  --quantizer ema --hidden 64 --res-channels 32 --res-blocks 2 --batch-size 64 --lr 2e-3 \
  --seed 0 --device cpu $(mnist_data) --quiet
vqvae fit-entropy "$OUT/mnist-long-r15" $(limit 60000) --quiet
vqvae train-prior "$OUT/mnist-long-r15" $(length 15) --dropout 0.1 --quiet
# OUT/mnist-long-r15-dec128: the bigger decoder, 40 min on 1 thread (13.9k steps); test PSNR 24.82 -> 25.50 dB
OMP_NUM_THREADS=1 vqvae train-decoder "$OUT/mnist-long-r15" --out "$OUT/mnist-long-r15-dec128" \
  --hidden 128 --res-channels 64 --res-blocks 3 $(length 40) --epochs 1000 --lr 2e-3 \
  --batch-size 64 --quiet

#!/usr/bin/env bash
# Builds the best MNIST codec of the rd benchmark: runs/mnist-long-r15-dec128
# (about 75 CPU-minutes on a 2-core CPU), from the repository root with `vqvae` on PATH; the
# results in benchmarks/README.md come from these run dirs.
set -euo pipefail
# runs/mnist-long-r15: 20 min on 1 thread (12.4k steps), its static distribution, a 15-min prior (2 threads)
vqvae train --out runs/mnist-long-r15 --epochs 1000 --max-minutes 20 --checkpoint-every 0 --downsample 4 --codebook-size 128 --code-dim 16 --rate-weight 0.15 --quantizer ema --hidden 64 --res-channels 32 --res-blocks 2 --batch-size 64 --lr 2e-3 --seed 0 --device cpu
vqvae fit-entropy runs/mnist-long-r15
vqvae train-prior runs/mnist-long-r15 --max-minutes 15 --dropout 0.1
# runs/mnist-long-r15-dec128: the bigger decoder, 40 min on 1 thread (13.9k steps); test PSNR 24.82 -> 25.50 dB
vqvae train-decoder runs/mnist-long-r15 --out runs/mnist-long-r15-dec128 --hidden 128 --res-channels 64 --res-blocks 3 --max-minutes 40 --epochs 1000 --lr 2e-3 --batch-size 64

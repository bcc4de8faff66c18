#!/usr/bin/env bash
# Builds the best Fashion-MNIST codec of the rd benchmark: runs/fashion-r08-dec-p33
# (about 2 CPU-hours on a 2-core CPU), from the repository root with `vqvae` on PATH; the
# results in benchmarks/README.md come from these run dirs.
set -euo pipefail
# 1. 5 min, rate weight 0.05 (test PSNR 22.08 dB)
vqvae train --dataset fashion-mnist --data-dir ../shared/data --out runs/fashion-mnist-f4-k128-rate --codebook-size 128 --code-dim 16 --downsample 4 --hidden 64 --rate-weight 0.05 --epochs 100 --max-minutes 5 --seed 0
# 2. a 128-wide decoder on its frozen codes, 25 min on 2 threads (14.3k steps; 22.08 -> 23.44 dB)
vqvae train-decoder runs/fashion-mnist-f4-k128-rate --out runs/fashion-mnist-f4-k128-rate-dec128 --hidden 128 --res-channels 64 --res-blocks 3 --max-minutes 25 --epochs 1000 --lr 2e-3 --batch-size 64
# 3. fine-tuned at rate weight 0.08, 25 min on 1 thread (3.5k steps; 23.29 dB)
vqvae train --dataset fashion-mnist --data-dir ../shared/data --out runs/fashion-ws-r08 --codebook-size 128 --code-dim 16 --downsample 4 --hidden 64 --rate-weight 0.08 --decoder-hidden 128 --decoder-res-channels 64 --decoder-res-blocks 3 --lr 1e-3 --epochs 1000 --max-minutes 25 --seed 0 --init-from runs/fashion-mnist-f4-k128-rate-dec128
# 4. its decoder continued, 30 min (10.1k steps; 23.37 dB)
vqvae train-decoder runs/fashion-ws-r08 --out runs/fashion-ws-r08-dec --max-minutes 30 --epochs 1000 --lr 7e-4 --batch-size 64
# 5. those weights with a 33-min prior (2 threads, 14.5k steps; 98.18 test bits per image)
mkdir -p runs/fashion-r08-dec-p33 && cp runs/fashion-ws-r08-dec/{config.json,model.safetensors} runs/fashion-r08-dec-p33/
vqvae train-prior runs/fashion-r08-dec-p33 --max-minutes 33

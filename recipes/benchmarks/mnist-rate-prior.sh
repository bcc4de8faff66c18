#!/usr/bin/env bash
# Builds the rate-prior MNIST chain of the prior benchmark, ending in runs/mnist-ctx2-0.5
# (about 3 CPU-hours on a 2-core CPU), from the repository root with `vqvae` on PATH; the
# results in benchmarks/README.md come from these run dirs.
set -euo pipefail
# 1. rate weight 0.15, 20 min on 1 thread
vqvae train --out runs/mnist-long-r15 --epochs 1000 --max-minutes 20 --checkpoint-every 0 --downsample 4 --codebook-size 128 --code-dim 16 --rate-weight 0.15 --quantizer ema --hidden 64 --res-channels 32 --res-blocks 2 --batch-size 64 --lr 2e-3 --seed 0 --device cpu
# 2. a 128-wide decoder on its frozen codes, 40 min
vqvae train-decoder runs/mnist-long-r15 --out runs/mnist-long-r15-dec128 --hidden 128 --res-channels 64 --res-blocks 3 --max-minutes 40 --epochs 1000 --lr 2e-3 --batch-size 64
# 3. fine-tuned at rate weight 0.5, 22 min; a 15-min prior
vqvae train --out runs/mnist-ws-r50 --init-from runs/mnist-long-r15-dec128 --epochs 1000 --max-minutes 22 --downsample 4 --codebook-size 128 --code-dim 16 --rate-weight 0.5 --quantizer ema --hidden 64 --res-channels 32 --res-blocks 2 --decoder-hidden 128 --decoder-res-channels 64 --decoder-res-blocks 3 --batch-size 64 --lr 1e-3 --seed 0 --device cpu
vqvae train-prior runs/mnist-ws-r50 --max-minutes 15 --dropout 0.1
# 4. codes chosen under that prior, L 0.4, 20 min; a 15-min prior
vqvae train --out runs/mnist-ctx-0.4 --init-from runs/mnist-ws-r50 --rate-prior runs/mnist-ws-r50 --rate-prior-weight 0.4 --rate-weight 0 --downsample 4 --codebook-size 128 --code-dim 16 --quantizer ema --hidden 64 --res-channels 32 --res-blocks 2 --decoder-hidden 128 --decoder-res-channels 64 --decoder-res-blocks 3 --batch-size 64 --lr 5e-4 --seed 0 --device cpu --epochs 1000 --max-minutes 20 --checkpoint-every 0
vqvae train-prior runs/mnist-ctx-0.4 --max-minutes 15 --dropout 0.1
# 5. the same from step 4's model and prior, L 0.5
vqvae train --out runs/mnist-ctx2-0.5 --init-from runs/mnist-ctx-0.4 --rate-prior runs/mnist-ctx-0.4 --rate-prior-weight 0.5 --rate-weight 0 --downsample 4 --codebook-size 128 --code-dim 16 --quantizer ema --hidden 64 --res-channels 32 --res-blocks 2 --decoder-hidden 128 --decoder-res-channels 64 --decoder-res-blocks 3 --batch-size 64 --lr 5e-4 --seed 0 --device cpu --epochs 1000 --max-minutes 20 --checkpoint-every 0
vqvae train-prior runs/mnist-ctx2-0.5 --max-minutes 15 --dropout 0.1

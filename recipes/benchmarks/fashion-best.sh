#!/usr/bin/env bash
# Builds the best Fashion-MNIST codec of the rd benchmark: OUT/fashion-r08-dec-p33 (about 2
# CPU-hours on a 2-core CPU; OUT defaults to runs), from the repository root with `vqvae` on
# PATH; the Fashion-MNIST rows of benchmarks/README.md come from these run dirs.
#   bash recipes/benchmarks/fashion-best.sh [OUT]
source "$(dirname "$0")/../common.sh"
OUT=${1:-runs}
FASHION=(--dataset fashion-mnist --data-dir "$DATA" --codebook-size 128 --code-dim 16
  --downsample 4 --hidden 64 --seed 0 --overwrite --quiet)
# 1. 5 min, rate weight 0.05 (test PSNR 22.08 dB)
vqvae train "${FASHION[@]}" --out "$OUT/fashion-mnist-f4-k128-rate" --rate-weight 0.05 \
  --epochs 100 $(length 5)
# 2. a 128-wide decoder on its frozen codes, 25 min on 2 threads (14.3k steps; 22.08 -> 23.44 dB)
vqvae train-decoder "$OUT/fashion-mnist-f4-k128-rate" --out "$OUT/fashion-mnist-f4-k128-rate-dec128" \
  --hidden 128 --res-channels 64 --res-blocks 3 $(length 25) --epochs 1000 --lr 2e-3 \
  --batch-size 64 --quiet
# 3. fine-tuned at rate weight 0.08, 25 min on 1 thread (3.5k steps; 23.29 dB)
OMP_NUM_THREADS=1 vqvae train "${FASHION[@]}" --out "$OUT/fashion-ws-r08" --rate-weight 0.08 \
  --decoder-hidden 128 --decoder-res-channels 64 --decoder-res-blocks 3 --lr 1e-3 --epochs 1000 \
  $(length 25) --init-from "$OUT/fashion-mnist-f4-k128-rate-dec128"
# 4. its decoder continued, 30 min (10.1k steps; 23.37 dB)
vqvae train-decoder "$OUT/fashion-ws-r08" --out "$OUT/fashion-ws-r08-dec" $(length 30) \
  --epochs 1000 --lr 7e-4 --batch-size 64 --quiet
# 5. those weights with a 33-min prior (2 threads, 14.5k steps; 98.18 test bits per image)
rm -rf "$OUT/fashion-r08-dec-p33" && mkdir -p "$OUT/fashion-r08-dec-p33"
cp "$OUT"/fashion-ws-r08-dec/{config.json,model.safetensors} "$OUT/fashion-r08-dec-p33/"
vqvae train-prior "$OUT/fashion-r08-dec-p33" $(length 33) --quiet

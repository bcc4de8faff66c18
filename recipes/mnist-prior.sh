#!/usr/bin/env bash
# Rebuilds the shipped `mnist-prior` model (src/vqvae/pretrained/mnist-prior), the best digit
# codec and generator: codes trained to be cheap under a class-conditional transformer prior,
# and that prior. About 2 h 15 min on one core (the steps run one after another with one
# thread each; OMP_NUM_THREADS=1 is set here). Each training's steps: the shipped run's where
# it recorded them (the last model, 6007, and its prior, 4878); the others, bounded by minutes
# then, as many as their minutes held at the speed of the last stage (~6.3 steps/s for a
# model, ~5.8 for a prior, on one thread).
#   bash recipes/mnist-prior.sh [RUN_DIR]          (then: python recipes/ship.py RUN_DIR mnist-prior)
# Intermediate runs go to RUN_DIR-r15, RUN_DIR-dec128, RUN_DIR-r50 and RUN_DIR-ctx.
source "$(dirname "$0")/common.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RUN=${1:-runs/recipe-mnist-prior}
ENCODER=(--downsample 4 --codebook-size 128 --code-dim 16 --quantizer ema --hidden 64
  --res-channels 32 --res-blocks 2 --batch-size 64 --seed 0 --device cpu
  --checkpoint-every 0 --overwrite --quiet $(mnist_data))
DECODER=(--decoder-hidden 128 --decoder-res-channels 64 --decoder-res-blocks 3)
PRIOR=(--dropout 0.1 --quiet)
# 1. a digit model with a unigram rate weight of 0.15 (16 min then)
vqvae train --out "$RUN-r15" "${ENCODER[@]}" --rate-weight 0.15 --lr 2e-3 $(steps 6000)
# 2. a 128-wide decoder on its frozen codes (25 min)
vqvae train-decoder "$RUN-r15" --out "$RUN-dec128" --hidden 128 --res-channels 64 \
  --res-blocks 3 --lr 2e-3 --batch-size 64 $(steps 9400) --quiet
# 3. both fine-tuned at rate weight 0.5 (18 min); a prior over its codes (12 min)
vqvae train --out "$RUN-r50" "${ENCODER[@]}" "${DECODER[@]}" --init-from "$RUN-dec128" \
  --rate-weight 0.5 --lr 1e-3 $(steps 6800)
vqvae train-prior "$RUN-r50" "${PRIOR[@]}" $(steps 4200)
# 4. codes chosen by latent distance + 0.8 x their bits under that (frozen) prior (16 min); a
#    prior over the new codes (12 min)
vqvae train --out "$RUN-ctx" "${ENCODER[@]}" "${DECODER[@]}" --init-from "$RUN-r50" \
  --rate-prior "$RUN-r50" --rate-prior-weight 0.8 --rate-weight 0 --lr 5e-4 $(steps 6000)
vqvae train-prior "$RUN-ctx" "${PRIOR[@]}" $(steps 4200)
# 5. the same from step 4's model and prior at 0.6 (the shipped model: 6007 steps, 16 min);
#    the shipped prior (4878 steps, 14 min)
vqvae train --out "$RUN" "${ENCODER[@]}" "${DECODER[@]}" --init-from "$RUN-ctx" \
  --rate-prior "$RUN-ctx" --rate-prior-weight 0.6 --rate-weight 0 --lr 5e-4 $(steps 6007)
vqvae train-prior "$RUN" "${PRIOR[@]}" $(steps 4878)
# 6. its static code distribution (for files coded without the prior); its metrics
vqvae fit-entropy "$RUN" $(limit 20000) --quiet
vqvae eval-prior "$RUN" --json

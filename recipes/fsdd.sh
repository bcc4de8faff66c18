#!/usr/bin/env bash
# Rebuilds the shipped `fsdd` speech model (src/vqvae/pretrained/fsdd) from
# ../shared/data/fsdd (the Free Spoken Digit Dataset, 8 kHz): about 2 h 55 min on a 2-core CPU
# (58 + 45 + 70 minutes of training on one thread, OMP_NUM_THREADS=1, beside another training
# job).
#   bash recipes/fsdd.sh [RUN_DIR]        (then: python recipes/ship.py RUN_DIR fsdd --half)
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-fsdd}
# 1. the fsdd recipe: strides 2,4,4,5 (50 frames/s), 16 channels, 8 residual stages of 256
#    codes with quantizer dropout (400 bit/s a stage), the inverse-STFT decoder (8 ConvNeXt
#    blocks of 256 channels at 100 frames/s), 0.5 s segments, batch 16
vqvae train --dataset fsdd --data-dir "$DATA" --out "$RUN-stage1" --overwrite --seed 0 \
  $(length 58) --eval-subset 40 --quiet
# 2. warm-started from stage 1 (everything copied), a fresh cosine schedule at half the
#    learning rate, and the phase loss on the decoder's STFT phase added to the training loss
vqvae train --dataset fsdd --data-dir "$DATA" --out "$RUN-stage2" --overwrite --seed 1 --lr 5e-4 \
  --init-from "$RUN-stage1" --phase-weight 0.1 $(length 45) --eval-subset 40 --quiet
# 3. the same loss for longer: the model is far from converged (each step still lifts PESQ)
vqvae train --dataset fsdd --data-dir "$DATA" --out "$RUN" --overwrite --seed 2 --lr 6e-4 \
  --init-from "$RUN-stage2" --phase-weight 0.1 $(length 70) --eval-subset 40 --quiet
# 4. its static code distribution (per stage; the first 900 training clips, digits 0-3) for the
#    entropy coder, then the test split
vqvae fit-entropy "$RUN" $(limit 900) --quiet
vqvae eval "$RUN" --json

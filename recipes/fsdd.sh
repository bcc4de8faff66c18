#!/usr/bin/env bash
# Rebuilds the shipped `fsdd` speech model (src/vqvae/pretrained/fsdd) from
# ../shared/data/fsdd (the Free Spoken Digit Dataset, 8 kHz): about an hour on a 2-core CPU
# (58 minutes of training; trained with OMP_NUM_THREADS=1 beside another training job).
#   bash recipes/fsdd.sh [RUN_DIR]        (then: python recipes/ship.py RUN_DIR fsdd)
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-fsdd}
# 1. the fsdd recipe: strides 2,4,4,5 (50 frames/s), 16 channels, 8 residual stages of 256
#    codes with quantizer dropout (400 bit/s a stage), the inverse-STFT decoder (8 ConvNeXt
#    blocks of 256 channels at 100 frames/s), 0.5 s segments, batch 16
vqvae train --dataset fsdd --data-dir "$DATA" --out "$RUN" --overwrite --seed 0 \
  $(length 58) --eval-subset 40 --quiet
# 2. its static code distribution (per stage; the first 900 training clips, digits 0-3) for the
#    entropy coder, then the test split
vqvae fit-entropy "$RUN" $(limit 900) --quiet
vqvae eval "$RUN" --json

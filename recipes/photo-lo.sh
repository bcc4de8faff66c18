#!/usr/bin/env bash
# Rebuilds the shipped `photo-lo` model (src/vqvae/pretrained/photo-lo), the low-rate sibling
# of `photo` (the same 512 codes, trained with twice its rate weight so that encoder and decoder
# adapt to cheaper codes), from ../shared/data/bsds500: about 1 h 15 min on a 2-core CPU
# (55 minutes of training on one thread, warm-started from `photo`, and a 20-minute context
# model).
#   bash recipes/photo-lo.sh [RUN_DIR] [PHOTO]     (then: python recipes/ship.py RUN_DIR photo-lo)
# PHOTO is the warm start: the shipped photo model (default) or a run of recipes/photo.sh.
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-photo-lo}
PHOTO=${2:-src/vqvae/pretrained/photo}
bsds_links "$RUN/data"
# 1. photo's encoder, codebook and decoder (copied), rate weight 0.06 (photo: 0.03)
vqvae train --dataset "$RUN/data" --out "$RUN" --overwrite --codebook-size 512 --code-dim 64 \
  --downsample 4 --hidden 128 --rate-weight 0.06 --random-crop 64 --batch-size 32 --lr 5e-4 \
  --eval-subset 24 --device cpu --seed 5 --init-from "$PHOTO" --epochs 1000 \
  --data-loading memory --quiet $(length 55)
# 2. its static code distribution and its context model, as for photo; metrics on BSDS500 test
vqvae fit-entropy "$RUN" $(limit 1200) --quiet
vqvae train-context "$RUN" --images "$RUN/data" --threads 1 $(length 20) --quiet
vqvae eval "$RUN" $(limit 24) --json

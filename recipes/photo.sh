#!/usr/bin/env bash
# Rebuilds the shipped `photo` model (src/vqvae/pretrained/photo), the colour-photo model of
# vqvae compress, from ../shared/data/bsds500 (train + val, 300 photos, random 64x64 crops):
# training in three stages of 428, about 3700 and 10 119 steps (the shipped run's: 50 + 24 + 68
# minutes, stage 1 on a CPU shared with ~5 other jobs, stages 2 and 3 on one thread) and a
# context model of 1836 steps (20 minutes on one thread): about 2 h 45 min on a 2-core CPU.
#   bash recipes/photo.sh [RUN_DIR]                (then: python recipes/ship.py RUN_DIR photo)
# The BSDS500 photos are for non-commercial research use: the recipe links to them (RUN_DIR/data
# holds symbolic links only) and the shipped model holds weights, never images.
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-photo}
# train/ = BSDS train + val (each photo linked 4 times), test/ = BSDS test, as links
bsds_links "$RUN/data"
# 1. the photo recipe: downsample 4, 512 codes of dimension 64, 128 channels, unigram rate weight
SETTINGS=(--codebook-size 512 --code-dim 64 --downsample 4 --hidden 128 --rate-weight 0.03
  --random-crop 64 --batch-size 32 --lr 1e-3 --eval-subset 24 --device cpu --quiet)
vqvae train --dataset "$RUN/data" --out "$RUN-stage1" --overwrite "${SETTINGS[@]}" --seed 0 \
  $(steps 428)
#    stage 2: a warm start from stage 1 (encoder, codebook and decoder copied), a fresh cosine
#    schedule and another crop order; stage 3: the same from stage 2 at half the learning rate
vqvae train --dataset "$RUN/data" --out "$RUN-stage2" --overwrite "${SETTINGS[@]}" --seed 1 \
  --init-from "$RUN-stage1" $(steps 3700)
vqvae train --dataset "$RUN/data" --out "$RUN" --overwrite "${SETTINGS[@]}" --seed 2 --lr 5e-4 \
  --init-from "$RUN-stage2" --data-loading memory $(steps 10119)
# 2. its static code distribution, counted on a random 64x64 crop of each of the 1200 training
#    links, and its context model (4 passes of a small conv net per photo: a photo codes in
#    about a second each way), trained on the whole training photos' code maps and their
#    mirror images; its metrics on BSDS500 test
photo_entropy_models "$RUN" 1836

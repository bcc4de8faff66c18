#!/usr/bin/env bash
# Builds `photo-gan`: the shipped `photo` model with a sharper decoder (issue #39; not shipped:
# it falls short of the issue's target, benchmarks/README.md "Sharp images"). `vqvae
# train-decoder` copies photo's encoder and codebook, frozen, and continues its decoder for
# 1600 steps on ../shared/data/bsds500 (train + val, random 64x64 crops, lr 1e-4) with the
# perceptual loss (the shipped `perceptual` net, weight 1.0) and a patch discriminator from step
# 0 (--adversarial-weight 0.8 with VQGAN's adaptive weight, feature matching 0.8). The codes are
# photo's bit for bit, so photo's entropy.json and context model are carried over and a
# photo-gan file is exactly as long as photo's. About 21 minutes of training on one thread
# (benchmarks/sharp.py's sharp arm: these settings, 1255 s; it links each photo once, not 4
# times, so its crops come in another order), 25 minutes with the evaluation.
#   bash recipes/photo-gan.sh [RUN_DIR] [PHOTO]   (RUN_DIR must hold no run yet)
# PHOTO is the model whose codes are kept: the shipped photo model (default) or a run of
# recipes/photo.sh.
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-photo-gan}
PHOTO=${2:-src/vqvae/pretrained/photo}
bsds_links "$RUN/data"
vqvae train-decoder "$PHOTO" --out "$RUN" --dataset "$RUN/data" --seed 0 --lr 1e-4 \
  --warmup-steps 20 --batch-size 32 --random-crop 64 --eval-subset 24 --data-loading memory \
  --workers 0 --perceptual-weight 1.0 --adversarial-weight 0.8 --adversarial-start 0 \
  --adaptive-weight --quiet $(steps 1600)
# its metrics on BSDS500 test (entropy.json and the context model came with the codes)
vqvae eval "$RUN" $(limit 24) --json

#!/usr/bin/env bash
# Rebuilds the shipped `fashion-mnist` model (src/vqvae/pretrained/fashion-mnist) from
# ../shared/data/fashion-mnist: about 25 minutes on a 2-core CPU.
#   bash recipes/fashion-mnist.sh [RUN_DIR]        (then: python recipes/ship.py RUN_DIR fashion-mnist)
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-fashion-mnist}
# 1. the digits recipe (64 channels, 128 codes of dimension 16) with a unigram rate weight
vqvae train --dataset fashion-mnist --data-dir "$DATA" --out "$RUN" --overwrite \
  --rate-weight 0.05 --seed 0 $(length 12) --quiet
# 2. its static code distribution, then a class-conditional prior over its codes
vqvae fit-entropy "$RUN" $(limit 20000) --quiet
vqvae train-prior "$RUN" $(length 12) --dropout 0.1 --quiet
vqvae eval-prior "$RUN" --json

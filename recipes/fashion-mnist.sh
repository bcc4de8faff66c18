#!/usr/bin/env bash
# Rebuilds the shipped `fashion-mnist` model (src/vqvae/pretrained/fashion-mnist) from
# ../shared/data/fashion-mnist: 19 589 + 519 steps, about 25 minutes on a 2-core CPU.
#   bash recipes/fashion-mnist.sh [RUN_DIR]        (then: python recipes/ship.py RUN_DIR fashion-mnist)
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-fashion-mnist}
# 1. the digits recipe (64 channels, 128 codes of dimension 16) with a unigram rate weight
vqvae train --dataset fashion-mnist --data-dir "$DATA" --out "$RUN" --overwrite \
  --rate-weight 0.05 --seed 0 $(steps 19589) --quiet
# 2. its static code distribution, then a class-conditional prior over its codes (the shipped
#    prior's 519 steps: its 12 minutes shared the cores; more steps give a better prior)
vqvae fit-entropy "$RUN" $(limit 20000) --quiet
vqvae train-prior "$RUN" $(steps 519) --dropout 0.1 --quiet
vqvae eval-prior "$RUN" --json

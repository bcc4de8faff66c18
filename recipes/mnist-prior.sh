#!/usr/bin/env bash
# Rebuilds the shipped `mnist-prior` model (src/vqvae/pretrained/mnist-prior): the `mnist`
# digit model with a class-conditional transformer prior over its codes (sampling by class,
# prior-coded files): about 25 minutes on a 2-core CPU.
#   bash recipes/mnist-prior.sh [RUN_DIR]          (then: python recipes/ship.py RUN_DIR mnist-prior)
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-mnist-prior}
bash "$(dirname "$0")/mnist.sh" "$RUN"
vqvae train-prior "$RUN" $(length 12) --dropout 0.1 --quiet
vqvae eval-prior "$RUN" --json

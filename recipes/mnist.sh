#!/usr/bin/env bash
# Rebuilds the shipped `mnist` model (src/vqvae/pretrained/mnist), the default digit model of
# vqvae compress, from the embedded MNIST: 9434 steps, about 11 minutes on an idle 2-core CPU.
#   bash recipes/mnist.sh [RUN_DIR]                (then: python recipes/ship.py RUN_DIR mnist)
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-mnist}
# the MNIST recipe (64 channels, 128 codes of dimension 16, batch 64, Adam 2e-3, cosine) for
# the 9434 steps the shipped model trained (10 epochs)
vqvae train --dataset mnist --out "$RUN" --overwrite --checkpoint-every 0 --seed 0 \
  --device cpu $(steps 9434) --quiet
vqvae fit-entropy "$RUN" $(limit 20000) --quiet
vqvae eval "$RUN" $(limit 10000) --json

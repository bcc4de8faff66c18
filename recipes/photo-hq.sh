#!/usr/bin/env bash
# Rebuilds the shipped `photo-hq` model (src/vqvae/pretrained/photo-hq), the higher-rate
# sibling of `photo` (1024 codes instead of 512, a lower rate weight), from
# ../shared/data/bsds500: 5292 steps of training warm-started from `photo`'s encoder and
# decoder, and a context model of 4295 steps (the shipped run's: 62 and 20 minutes on one
# thread, about 1 h 25 min on a 2-core CPU).
#   bash recipes/photo-hq.sh [RUN_DIR] [PHOTO]     (then: python recipes/ship.py RUN_DIR photo-hq)
# PHOTO is the warm start: the shipped photo model (default) or a run of recipes/photo.sh.
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-photo-hq}
PHOTO=${2:-src/vqvae/pretrained/photo}
bsds_links "$RUN/data"
# 1. photo's encoder and decoder (copied: same sizes) with a new codebook of 1024 codes
#    (k-means initialised on the first batch), at half photo's first learning rate
photo_sibling "$RUN" "$PHOTO" 1024 0.02 3 5292
# 2. its static code distribution and its context model, as for photo; metrics on BSDS500 test
photo_entropy_models "$RUN" 4295

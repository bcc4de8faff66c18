#!/usr/bin/env bash
# Rebuilds the shipped `photo-xhq` model (src/vqvae/pretrained/photo-xhq), the highest-rate
# sibling of `photo` (2048 codes, rate weight 0.015), from ../shared/data/bsds500: about
# 1 h 20 min on a 2-core CPU: 6275 steps of training warm-started from `photo-hq`'s encoder
# and decoder, and a context model of 1497 steps (the shipped run's: 60 and 20 minutes on one
# thread of a busy machine; more steps lower the rate).
#   bash recipes/photo-xhq.sh [RUN_DIR] [PHOTO_HQ]  (then: python recipes/ship.py RUN_DIR photo-xhq)
# PHOTO_HQ is the warm start: the shipped photo-hq model (default) or a run of recipes/photo-hq.sh.
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-photo-xhq}
PHOTO_HQ=${2:-src/vqvae/pretrained/photo-hq}
bsds_links "$RUN/data"
# 1. photo-hq's encoder and decoder (copied: same sizes) with a new codebook of 2048 codes
#    (k-means initialised on the first batch) and a lower rate weight
photo_sibling "$RUN" "$PHOTO_HQ" 2048 0.015 4 6275
# 2. its static code distribution and its context model, as for photo; metrics on BSDS500 test
photo_entropy_models "$RUN" 1497

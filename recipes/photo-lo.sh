#!/usr/bin/env bash
# Rebuilds the shipped `photo-lo` model (src/vqvae/pretrained/photo-lo), the low-rate sibling
# of `photo` (the same 512 codes, trained with twice its rate weight so that encoder and decoder
# adapt to cheaper codes), from ../shared/data/bsds500: about 2 h on a 2-core CPU (55 minutes
# of training on one thread, warm-started from `photo`, and a 60-minute context model of two
# levels).
#   bash recipes/photo-lo.sh [RUN_DIR] [PHOTO]     (then: python recipes/ship.py RUN_DIR photo-lo)
# PHOTO is the warm start: the shipped photo model (default) or a run of recipes/photo.sh.
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-photo-lo}
PHOTO=${2:-src/vqvae/pretrained/photo}
bsds_links "$RUN/data"
# 1. photo's encoder, codebook and decoder (copied), rate weight 0.06 (photo: 0.03)
photo_sibling "$RUN" "$PHOTO" 512 0.06 5 55
# 2. its static code distribution, as for photo; its context model with anchors every 4 codes
# coded first (--levels 2), trained for 60 minutes; metrics on BSDS500 test
photo_entropy_models "$RUN" 60 2

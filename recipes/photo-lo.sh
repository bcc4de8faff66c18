#!/usr/bin/env bash
# Rebuilds the shipped `photo-lo` model (src/vqvae/pretrained/photo-lo), the low-rate sibling
# of `photo` (the same 512 codes, trained with twice its rate weight so that encoder and decoder
# adapt to cheaper codes), from ../shared/data/bsds500: about 6 h on a 2-core CPU, every step
# on one thread (OMP_NUM_THREADS=1 is set here): 7085 steps of training warm-started from
# `photo`, a two-level context model trained 2995 + 3878 + 3416 steps, and 23 463 steps of its
# decoder alone on the frozen codes (the shipped run's: 55, 60 + 90 + 80 and 80 minutes).
#   bash recipes/photo-lo.sh [RUN_DIR] [PHOTO]     (then: python recipes/ship.py RUN_DIR photo-lo)
# PHOTO is the warm start: the shipped photo model (default) or a run of recipes/photo.sh.
# Steps 1-3 write RUN_DIR-codes (the codes and their entropy models), step 4 RUN_DIR.
source "$(dirname "$0")/common.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RUN=${1:-runs/recipe-photo-lo}
PHOTO=${2:-src/vqvae/pretrained/photo}
CODES=$RUN-codes
bsds_links "$CODES/data"
# 1. photo's encoder, codebook and decoder (copied), rate weight 0.06 (photo: 0.03)
photo_sibling "$CODES" "$PHOTO" 512 0.06 5 7085
# 2. its static code distribution, as for photo; its context model with anchors every 4 codes
# coded first (--levels 2), trained for 2995 steps; metrics on BSDS500 test
photo_entropy_models "$CODES" 2995 2
# 3. the context model continued twice (a fresh schedule each time, its sizes kept)
continue_context() {  # LR STEPS
  vqvae train-context "$CODES" --images "$CODES/data" --threads 1 --init-from "$CODES" \
    --lr "$1" $(steps "$2") --quiet
}
continue_context 1e-3 3878
continue_context 7e-4 3416
# 4. the decoder continued alone on the frozen codes (the entropy models carried over; a rerun
# replaces RUN_DIR)
rm -rf "$RUN"
vqvae train-decoder "$CODES" --out "$RUN" --dataset "$CODES/data" --lr 2e-4 --device cpu \
  --quiet $(steps 23463)
vqvae eval "$RUN" $(limit 24) --json

#!/usr/bin/env bash
# Rebuilds the shipped `fsdd` speech model (src/vqvae/pretrained/fsdd) from
# ../shared/data/fsdd (the Free Spoken Digit Dataset, 8 kHz): 4914 + 3724 + 10 156 + 11 259 +
# 9914 steps, which took the shipped run about 6 h 5 min on a 2-core CPU (58 + 45 + 70 + 85 +
# 100 minutes of training on one thread, OMP_NUM_THREADS=1, beside another job).
#   bash recipes/fsdd.sh [RUN_DIR]        (then: python recipes/ship.py RUN_DIR fsdd --half)
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-fsdd}
# 1. the fsdd recipe: strides 2,4,4,5 (50 frames/s), 16 channels, 8 residual stages of 256
#    codes with quantizer dropout (400 bit/s a stage), the inverse-STFT decoder (8 ConvNeXt
#    blocks of 256 channels at 100 frames/s), 0.5 s segments, batch 16
vqvae train --dataset fsdd --data-dir "$DATA" --out "$RUN-stage1" --overwrite --seed 0 \
  $(steps 4914) --eval-subset 40 --quiet
# continue_training OUT FROM SEED LR STEPS [FLAG...]: everything copied from FROM, a fresh
# cosine schedule, and the phase loss on the decoder's STFT phase added to the training loss
continue_training() {
  vqvae train --dataset fsdd --data-dir "$DATA" --out "$1" --overwrite --seed "$3" --lr "$4" \
    --init-from "$2" --phase-weight 0.1 $(steps "$5") --eval-subset 40 --quiet "${@:6}"
}
# 2. warm-started from stage 1 at half the learning rate, with the phase loss
continue_training "$RUN-stage2" "$RUN-stage1" 1 5e-4 3724
# 3. the same loss for longer: the model is far from converged (each step still lifts PESQ)
continue_training "$RUN-stage3" "$RUN-stage2" 2 6e-4 10156
# 4. once more, with a 500-step warmup and the gradient norm clipped to 1: without them this
#    warm start at 6e-4 collapsed its codebooks after a few hundred steps
continue_training "$RUN-stage4" "$RUN-stage3" 3 6e-4 11259 --warmup-steps 500 --clip-grad 1.0
# 5. once more, the same way, for longer
continue_training "$RUN" "$RUN-stage4" 4 6e-4 9914 --warmup-steps 500 --clip-grad 1.0
# 6. its static code distribution (per stage; the first 900 training clips, digits 0-3) for the
#    entropy coder, then the test split
vqvae fit-entropy "$RUN" $(limit 900) --quiet
vqvae eval "$RUN" --json

#!/usr/bin/env bash
# Builds a general speech model for voices it never heard: trained from scratch on the four
# FSDD training speakers (fsdd-speakers: nicolas and theo held out) and three hours of
# synthetic multi-voice speech in English, German, Spanish and Italian
# (recipes/synthetic_speech.py --split train), every segment augmented (--augment: speed,
# level, band, room, noise). Its unseen test voices are the held-out FSDD speakers and the
# synthetic held-out split (Polish, Brazilian Portuguese, Czech, Russian; other voices):
# `python benchmarks/speech.py --model RUN` scores both.
# Fixed in steps (60 000 in two stages); about 10 h on one thread of a 2-core CPU at the
# fsdd recipe's measured 1.65 steps a second.
#   bash recipes/speech.sh [RUN_DIR]        (then: python recipes/ship.py RUN_DIR speech --half)
# Needs the Debian packages espeak-ng, fortunes-min, fortunes-de, fortunes-es, fortunes-it.
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-speech}
DATA_FOLDER="$RUN-data"

# steps N: "--max-steps N", or the miniature's step count
steps() { echo "--max-steps ${VQVAE_RECIPE_STEPS:-$1}"; }
# synthetic minutes: a few sentences in a miniature
MINUTES=180
[ -n "${VQVAE_RECIPE_STEPS:-}" ] && MINUTES=0.05

# 1. the training folder: FSDD's four training speakers (train and test splits as the dataset
#    has them) and the synthetic training split, all at 8 kHz
rm -rf "$DATA_FOLDER" && mkdir -p "$DATA_FOLDER/train" "$DATA_FOLDER/test"
python - "$DATA" "$DATA_FOLDER" <<'PY'
import shutil, sys
from pathlib import Path
from vqvae.data.audio import load_audio_dataset
data, out = sys.argv[1], Path(sys.argv[2])
for split in ("train", "test"):
    for path in load_audio_dataset("fsdd-speakers", split, data).paths:
        shutil.copyfile(path, out / split / path.name)
PY
python "$(dirname "$0")/synthetic_speech.py" "$DATA_FOLDER/train/synthetic" --split train \
  --minutes "$MINUTES" --seed 0

# 2. the fsdd recipe's model (strides 2,4,4,5: 50 frames/s; 8 residual stages of 256 codes,
#    quantizer dropout; the inverse-STFT decoder) from scratch, on augmented segments
vqvae train --dataset "$DATA_FOLDER" --out "$RUN-stage1" --overwrite --seed 0 --augment \
  --eval-subset 40 --quiet $(steps 30000)
# 3. warm-started from stage 1 with the phase loss, a warm-up and clipped gradients (as fsdd)
vqvae train --dataset "$DATA_FOLDER" --out "$RUN" --overwrite --seed 1 --augment \
  --init-from "$RUN-stage1" --phase-weight 0.1 --lr 6e-4 --warmup-steps 500 --clip-grad 1.0 \
  --eval-subset 40 --quiet $(steps 30000)
# 4. its per-stage code distribution for the entropy coder, then its test split
vqvae fit-entropy "$RUN" $(limit 2000) --quiet
vqvae eval "$RUN" --json

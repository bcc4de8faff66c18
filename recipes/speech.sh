#!/usr/bin/env bash
# Builds the shipped `speech` model, for voices other than FSDD's, in two phases:
#   1. the shipped fsdd model fine-tuned on the four FSDD training speakers (fsdd-speakers:
#      nicolas and theo held out of the fine-tune; fsdd itself heard them) and three hours of
#      synthetic multi-voice speech in English, German, Spanish and Italian
#      (recipes/synthetic_speech.py --split train);
#   2. that model fine-tuned again with two more hours of synthetic speech of broader voices
#      (--split wide: 40 more espeak-ng variants, English read by nine other languages' voices).
# Every segment augmented (--augment: speed, level, band, room, noise). Its unseen test voices
# are the synthetic held-out split (Polish, Brazilian Portuguese, Czech, Russian; other voices):
# `python benchmarks/speech.py --model RUN` scores them; --split val (voices neither split
# uses) is what phase 2 was judged on before it was kept.
# Fixed in steps (12 000 + 8 000): about 1 h 15 min + 50 min on one idle thread (2.7 steps a
# second); the shipped runs took 1 h 54 min and 56 min beside other jobs.
#   bash recipes/speech.sh [RUN_DIR]        (then: python recipes/ship.py RUN_DIR speech --half)
# Needs the Debian packages espeak-ng, fortunes-min, fortunes-de, fortunes-es, fortunes-it.
source "$(dirname "$0")/common.sh"
RUN=${1:-runs/recipe-speech}
BASE="$RUN-base"
DATA_FOLDER="$RUN-data"
WIDE_FOLDER="$RUN-wide-data"

# steps N: "--max-steps N", or the miniature's step count
steps() { echo "--max-steps ${VQVAE_RECIPE_STEPS:-$1}"; }
# synthetic minutes: a few sentences in a miniature
MINUTES=180
WIDE_MINUTES=120
[ -n "${VQVAE_RECIPE_STEPS:-}" ] && MINUTES=0.05 && WIDE_MINUTES=0.05

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

# 2. phase 1: the shipped fsdd model (strides 2,4,4,5: 50 frames/s; 8 residual stages of 256
#    codes, quantizer dropout; the inverse-STFT decoder) fine-tuned on augmented segments with
#    its phase loss, a warm-up and clipped gradients
vqvae train --dataset "$DATA_FOLDER" --out "$BASE" --overwrite --seed 5 --augment \
  --init-from "$(dirname "$0")/../src/vqvae/pretrained/fsdd" --phase-weight 0.1 --lr 5e-4 \
  --warmup-steps 500 --clip-grad 1.0 --eval-subset 40 --quiet $(steps 12000)

# 3. phase 2: the same folder plus the wide split, a lower learning rate
rm -rf "$WIDE_FOLDER" && cp -al "$DATA_FOLDER" "$WIDE_FOLDER"
python "$(dirname "$0")/synthetic_speech.py" "$WIDE_FOLDER/train/wide" --split wide \
  --minutes "$WIDE_MINUTES" --seed 0
vqvae train --dataset "$WIDE_FOLDER" --out "$RUN" --overwrite --seed 6 --augment \
  --init-from "$BASE" --phase-weight 0.1 --lr 2e-4 --warmup-steps 300 --clip-grad 1.0 \
  --eval-subset 40 --quiet $(steps 8000)
# 4. its per-stage code distribution for the entropy coder, then its test split
vqvae fit-entropy "$RUN" $(limit 900) --quiet
vqvae eval "$RUN" --json

# Shared by the recipes: run from the repository root, `vqvae` on PATH (make install, or a venv).
#   VQVAE_DATA_DIR      where the datasets are (default ../shared/data)
#   VQVAE_RECIPE_STEPS  a miniature: every training step count capped at N (the recipe test)
# The recipes of the shipped models fix each training's optimizer steps (`steps`): the counts
# their shipped runs reached, so a rebuild trains the same model on any machine, a busy one
# only taking longer. (Those runs were bounded by minutes; MODEL.md says how long they took.)
set -euo pipefail
DATA=${VQVAE_DATA_DIR:-../shared/data}

# steps N: "--max-steps N" (N at most VQVAE_RECIPE_STEPS in a miniature)
steps() {
  local n=$1
  if [ -n "${VQVAE_RECIPE_STEPS:-}" ] && [ "$VQVAE_RECIPE_STEPS" -lt "$n" ]; then
    n=$VQVAE_RECIPE_STEPS
  fi
  echo "--max-steps $n"
}

# length MINUTES (the benchmark recipes, bounded by time): "--max-minutes MINUTES", or
# "--max-steps N" in a miniature
length() {
  if [ -n "${VQVAE_RECIPE_STEPS:-}" ]; then
    echo "--max-steps $VQVAE_RECIPE_STEPS"
  else
    echo "--max-minutes $1"
  fi
}

# limit N: "--limit N", or a few hundred images in a miniature
limit() {
  if [ -n "${VQVAE_RECIPE_STEPS:-}" ]; then
    echo "--limit 256"
  else
    echo "--limit $1"
  fi
}

# mnist_data: nothing (the MNIST embedded in the package), or in a miniature
# "--dataset mnist --data-dir DATA", where the recipe test writes a few hundred digits
mnist_data() {
  if [ -n "${VQVAE_RECIPE_STEPS:-}" ]; then
    echo "--dataset mnist --data-dir $DATA"
  fi
}

# bsds_links FOLDER: FOLDER/train = BSDS500 train + val, each photo linked 4 times (so that an
# epoch, an evaluation and a checkpoint, is 37 steps of 32 crops), FOLDER/test = BSDS500 test;
# symbolic links only (the photos are for non-commercial research use)
bsds_links() {
  local bsds
  bsds=$(cd "$DATA/bsds500" && pwd)
  rm -rf "$1" && mkdir -p "$1/train" "$1/test"
  for split in train val; do
    for f in "$bsds/$split"/*.jpg; do
      for copy in 1 2 3 4; do ln -s "$f" "$1/train/$split-$copy-$(basename "$f")"; done
    done
  done
  for f in "$bsds/test"/*.jpg; do ln -s "$f" "$1/test/$(basename "$f")"; done
}

# photo_entropy_models RUN STEPS [LEVELS]: a photo run's static code distribution (a random
# 64x64 crop of each of the 1200 training links), its context model (STEPS steps on one
# thread, the training photos' whole code maps and their mirror images; --levels LEVELS,
# default 1) and its metrics on BSDS500 test
photo_entropy_models() {
  vqvae fit-entropy "$1" $(limit 1200) --quiet
  vqvae train-context "$1" --images "$1/data" --threads 1 --levels "${3:-1}" \
    $(steps "$2") --quiet
  vqvae eval "$1" $(limit 24) --json
}

# photo_sibling RUN FROM CODES RATE_WEIGHT SEED STEPS: a photo model of CODES codes trained on
# RUN/data (bsds_links) for STEPS steps, warm-started from run or shipped model FROM (its
# encoder and decoder; its codebook too when the sizes match), at photo's settings otherwise
# and lr 5e-4
photo_sibling() {
  vqvae train --dataset "$1/data" --out "$1" --overwrite --codebook-size "$3" --code-dim 64 \
    --downsample 4 --hidden 128 --rate-weight "$4" --random-crop 64 --batch-size 32 --lr 5e-4 \
    --eval-subset 24 --device cpu --seed "$5" --init-from "$2" \
    --data-loading memory --quiet $(steps "$6")
}

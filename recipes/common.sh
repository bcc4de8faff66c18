# Shared by the recipes: run from the repository root, `vqvae` on PATH (make install, or a venv).
#   VQVAE_DATA_DIR      where the datasets are (default ../shared/data)
#   VQVAE_RECIPE_STEPS  a miniature: every training step count capped at N (the recipe test)
set -euo pipefail
DATA=${VQVAE_DATA_DIR:-../shared/data}

# length MINUTES: "--max-minutes MINUTES", or "--max-steps N" in a miniature
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

"""Warm start (``vqvae train --init-from RUN_DIR``): begin a new run from another run's weights.

The model's three parts (encoder, quantizer, decoder) are taken whole or not at all: a part is
copied when every one of its tensors exists in the source with the same shape, and otherwise
keeps its fresh initialisation. So a run with a bigger codebook starts from the source's trained
encoder and decoder with a new quantizer (k-means initialised on the first batch, as usual),
and a run with the same sizes is plain fine-tuning (e.g. under another ``--rate-weight``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from ..models import VQVAE

PARTS = ("encoder", "quantizer", "decoder")


def load_matching_parts(model: VQVAE, source_run: str | Path) -> list[str]:
    """Copy each part of ``source_run``'s model whose tensors all match ``model``'s; return the
    names of the copied parts. CheckpointError when the source is unreadable, was trained on
    images with another channel count, or nothing matches."""
    source = VQVAE.from_pretrained(source_run)
    if source.config.in_channels != model.config.in_channels:
        raise CheckpointError(
            f"{source_run} was trained on {source.config.in_channels}-channel images, "
            f"this run has {model.config.in_channels}"
        )
    copied = []
    for part in PARTS:
        theirs, ours = source.part_state(part), model.part_state(part)
        if theirs.keys() != ours.keys() or any(theirs[k].shape != ours[k].shape for k in ours):
            continue
        model.load_state_dict(theirs, strict=False)
        copied.append(part)
    if not copied:
        raise CheckpointError(f"{source_run}: no part of its model has this run's sizes")
    return copied

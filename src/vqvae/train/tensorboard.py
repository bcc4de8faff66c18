"""What a run logs to TensorBoard at each evaluation besides its scalars: a grid of test
images beside their reconstructions (image models), or a test clip and its decoding (speech).

The writer exists when the ``tensorboard`` extra is installed (``loop._tensorboard_writer``);
open it with ``tensorboard --logdir RUN_DIR/tb``."""

from __future__ import annotations

import torch

from ..metrics import psnr
from ..visualize import comparison_grid

IMAGES = 8  # test images in the grid
SECONDS = 4.0  # of the test clip


@torch.no_grad()
def log_media(writer, model, test_set, step: int) -> None:
    """Add the first test images and their reconstructions as one picture (with PSNR), or
    the first test clip and its decoding as two sounds, at ``step``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        if model.modality == "audio":
            clip = test_set.clip(0)[..., : int(SECONDS * model.sample_rate)].to(device)
            decoded = model.reconstruct(clip)
            rate = model.sample_rate
            writer.add_audio("test/original", clip[0].float().cpu(), step, sample_rate=rate)
            writer.add_audio("test/decoded", decoded[0].float().cpu(), step, sample_rate=rate)
        else:
            x = test_set.batch(torch.arange(min(IMAGES, len(test_set)))).to(device)
            if not len(x):
                return
            x_hat = model.reconstruct(x).float()
            captions = [f"{float(p):.2f} dB" for p in psnr(x.float(), x_hat)]
            grid = comparison_grid(list(x.cpu()), list(x_hat.cpu()), captions, ncol=4)
            writer.add_image("test/reconstructions", grid, step)
    finally:
        model.train(was_training)

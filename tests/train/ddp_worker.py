"""Run the vqvae CLI and dump this rank's model and RNG state, for the DDP tests.

    torchrun --nproc_per_node=N tests/train/ddp_worker.py DUMP_DIR EARLY_STEP train ...

writes DUMP_DIR/rank{RANK}_step{EARLY_STEP}.pt right after optimizer step EARLY_STEP and
DUMP_DIR/rank{RANK}.pt at the end, each {"state": model.state_dict(), "rng": CPU RNG state}
(and "discriminator": its state_dict, in adversarial training).
"""

import os
import sys
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

import vqvae.train.loop as loop
from vqvae import VQVAE
from vqvae.cli import main

models = []
adversaries = []
steps = [0]


def recording_vqvae(*args, **kwargs):
    """``VQVAE(...)`` (an image or an audio model), remembered."""
    model = VQVAE(*args, **kwargs)
    models.append(model)
    return model


class RecordingAdversary(loop.Adversary):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        adversaries.append(self)


def _copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def dump(path: Path) -> None:
    record = {"state": _copy(models[-1]), "rng": torch.get_rng_state()}
    if adversaries:
        record["discriminator"] = _copy(adversaries[-1].discriminator)
    torch.save(record, path)


if __name__ == "__main__":
    out, early = Path(sys.argv[1]), int(sys.argv[2])
    rank = os.environ.get("RANK", "0")

    def after_step(optimizer, args, kwargs):
        steps[0] += 1
        if steps[0] == early:
            dump(out / f"rank{rank}_step{early}.pt")

    loop.VQVAE = recording_vqvae
    loop.Adversary = RecordingAdversary
    register_optimizer_step_post_hook(after_step)
    code = main(sys.argv[3:])
    dump(out / f"rank{rank}.pt")
    sys.exit(code)

"""Run the vqvae CLI and dump this rank's model and RNG state, for the DDP tests.

    torchrun --nproc_per_node=N tests/ddp_worker.py DUMP_DIR EARLY_STEP train ...

writes DUMP_DIR/rank{RANK}_step{EARLY_STEP}.pt right after optimizer step EARLY_STEP and
DUMP_DIR/rank{RANK}.pt at the end, each {"state": model.state_dict(), "rng": CPU RNG state}.
"""

import os
import sys
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

import vqvae.train.loop as loop
from vqvae.cli import main

models = []
steps = [0]


class RecordingVQVAE(loop.VQVAE):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        models.append(self)


def dump(path: Path) -> None:
    state = {k: v.detach().cpu().clone() for k, v in models[-1].state_dict().items()}
    torch.save({"state": state, "rng": torch.get_rng_state()}, path)


if __name__ == "__main__":
    out, early = Path(sys.argv[1]), int(sys.argv[2])
    rank = os.environ.get("RANK", "0")

    def after_step(optimizer, args, kwargs):
        steps[0] += 1
        if steps[0] == early:
            dump(out / f"rank{rank}_step{early}.pt")

    loop.VQVAE = RecordingVQVAE
    register_optimizer_step_post_hook(after_step)
    code = main(sys.argv[3:])
    dump(out / f"rank{rank}.pt")
    sys.exit(code)

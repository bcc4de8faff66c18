"""Join (and leave) the process group that ``torchrun`` describes in the environment.

``torchrun --nproc_per_node=N -m vqvae train ...`` starts N processes with RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT set; multi-node runs add torchrun's rendezvous flags
and nothing changes here. A plain ``python -m vqvae train`` has none of them and runs as a
single process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta

import torch
import torch.distributed as torch_dist

from ..device import resolve_device
from ..errors import VQVAEError

# Rank 0 evaluates and checkpoints while the others wait in the next collective.
_TIMEOUT = timedelta(minutes=30)


def launched_by_torchrun() -> bool:
    """True when the environment describes a process group (torchrun or a compatible launcher)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def device_for_rank(name: str) -> torch.device:
    """Resolve ``--device`` for this process: CUDA ranks take GPU ``LOCAL_RANK`` of their node."""
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        count = torch.cuda.device_count()
        if local_rank() >= count:
            raise VQVAEError(
                f"LOCAL_RANK {local_rank()} has no GPU: this node has {count}; "
                f"use --nproc_per_node={count} or fewer"
            )
        device = torch.device("cuda", local_rank())
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # NCCL and new CUDA tensors follow it
    return device


@contextlib.contextmanager
def process_group(device_name: str = "auto") -> Iterator[torch.device]:
    """Join torchrun's process group (if launched by it) for the block; yield this rank's device.

    The backend is NCCL when the device is CUDA and gloo otherwise. A group that already
    exists (set up by the caller) is used as it is and left alone on exit.
    """
    device = device_for_rank(device_name)
    created = False
    if launched_by_torchrun() and not torch_dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch_dist.init_process_group(backend=backend, timeout=_TIMEOUT)
        created = True
    try:
        yield device
    finally:
        if created:
            torch_dist.destroy_process_group()

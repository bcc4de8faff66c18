"""Resolve the compute device and the autocast context once, at the entry point."""

from __future__ import annotations

import contextlib

import torch

from .errors import VQVAEError


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto" picks CUDA, then MPS, then CPU; an unavailable explicit choice is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise VQVAEError(
                f"--device {name}: CUDA is not available (no GPU, or a CPU-only build)"
            )
        index = name.partition(":")[2]
        if index and not (index.isdigit() and int(index) < torch.cuda.device_count()):
            raise VQVAEError(
                f"--device {name}: no such CUDA device ({torch.cuda.device_count()} available)"
            )
    elif name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise VQVAEError("--device mps: no MPS device is available")
    elif name != "cpu":
        raise VQVAEError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
    return torch.device(name)


def autocast_for(device: torch.device):
    """bf16 autocast for the encoder/decoder on CUDA; plain fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

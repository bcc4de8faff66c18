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
    if name == "cuda" and not torch.cuda.is_available():
        raise VQVAEError("--device cuda: no CUDA device is available")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise VQVAEError("--device mps: no MPS device is available")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise VQVAEError(f"--device must be auto, cpu, cuda or mps, got {name!r}")
    return torch.device(name)


def autocast_for(device: torch.device):
    """bf16 autocast for the encoder/decoder on CUDA; plain fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""Shipped models: run dirs inside the package, found by name.

Each ``pretrained/NAME/`` holds what a ``vqvae train`` run dir holds (``config.json``,
``model.safetensors``, ``entropy.json``, ``prior/`` where it has one) plus ``MODEL.md``: its
data, the recipe that rebuilds it (``recipes/NAME.sh``), its CPU time and measured metrics.
``zoo.json`` lists them for ``vqvae models``. Wherever a run dir is accepted a shipped name
is too; a run dir of the same name (a path that exists) always wins.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

ROOT = Path(__file__).resolve().parent
CATALOGUE = ROOT / "zoo.json"


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """name -> {"data", "headline", "description"} of every shipped model, in listing order."""
    entries = json.loads(CATALOGUE.read_text())
    return {
        name: entry for name, entry in entries.items() if (ROOT / name / "config.json").is_file()
    }


def names() -> list[str]:
    """The shipped models' names."""
    return list(catalogue())


def is_shipped(name: str | os.PathLike) -> bool:
    return isinstance(name, str) and name in catalogue()


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The run dir of ``name_or_path``: the path itself when it exists, else the shipped model
    of that name.

    Raises:
        CheckpointError: neither (the message lists the shipped names).
    """
    path = Path(name_or_path)
    if (path / "config.json").is_file() or not is_shipped(str(name_or_path)):
        if not path.exists():
            raise CheckpointError(
                f"{name_or_path}: not a run directory, nor the name of a shipped model "
                f"(shipped: {', '.join(names())}; `vqvae models` lists them)"
            )
        return path
    return ROOT / str(name_or_path)


def for_image(channels: int, height: int, width: int) -> str:
    """The shipped model that fits an image: the digit model for a grayscale 28x28 image,
    the photo model for anything else (grayscale photos included) when there is one."""
    if (channels, height, width) == (1, 28, 28) or "photo" not in catalogue():
        return "mnist"
    return "photo"


SPEECH = "speech"
"""The default model of ``vqvae compress x.wav``: the general one, not ``fsdd`` (six voices)."""


def for_audio() -> str:
    """The shipped speech model (8 kHz speech: ``speech``).

    Raises:
        CheckpointError: this build ships none (pass a run dir).
    """
    if SPEECH not in catalogue():
        raise CheckpointError(
            f"no shipped speech model ({SPEECH!r}) in this build: pass a run dir "
            "(vqvae compress RUN_DIR speech.wav ...)"
        )
    return SPEECH


def size_bytes(name: str) -> int:
    """Bytes of a shipped model's files (weights, entropy model, prior)."""
    return sum(p.stat().st_size for p in (ROOT / name).rglob("*") if p.is_file())

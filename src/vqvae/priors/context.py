"""A fast context model over code maps: interleaved groups, each coded in one pass.

The positions of a code map split into groups by row and column parity, coded in this order
(``levels=1``, the default)::

    group 0: (even row, even col)   nothing known: a learned distribution per position kind
    group 1: (odd row,  odd col)    its 4 diagonal neighbours (group 0) known
    group 2: (even row, odd col)    groups 0-1 known: all 4 direct neighbours
    group 3: (odd row,  even col)   groups 0-2 known: every neighbour

With ``levels=L`` the same split applies again to group 0, L times: the anchors (row and
column multiples of 2^L) come first, then the three groups that halve the spacing, down to
spacing 1 (3L + 1 groups), so that fewer codes are coded with nothing known.

A small convolutional network sees the known codes (embedded; unknown positions get an
"unknown" embedding) and a known-mask, and predicts every code of the next group at once, so a
map takes 3L + 1 network passes whatever its size (the idea of checkerboard / multi-pass
context models in learned image compression, e.g. He et al. 2021), where an autoregressive
prior takes one pass per position. Saved as ``RUN_DIR/context/`` (config.json +
model.safetensors), stamped with the VQ-VAE weights it was trained for.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import checkpoint
from ..errors import CheckpointError
from .io import save_prior_folder, weights_fingerprint

CONTEXT_DIR = "context"
MAX_LEVELS = 4
_HALVING = ((1, 1), (0, 1), (1, 0))  # (row, col) offsets, in half spacings, of a level's groups


@dataclass(frozen=True)
class ContextConfig:
    """Sizes of a ``ContextModel``."""

    codebook_size: int
    embed_dim: int = 32
    channels: int = 64
    layers: int = 4
    levels: int = 1

    def __post_init__(self) -> None:
        if self.codebook_size < 2 or self.embed_dim < 1 or self.channels < 1 or self.layers < 1:
            raise ValueError(f"bad context model sizes: {self}")
        if not 1 <= self.levels <= MAX_LEVELS:
            raise ValueError(f"context levels must be 1 to {MAX_LEVELS}, got {self.levels}")

    @property
    def num_groups(self) -> int:
        return 3 * self.levels + 1

    def to_dict(self) -> dict[str, int]:
        """The sizes; ``levels`` only when not 1 (so a one-level model keeps the dict, and the
        coding fingerprint, it had before levels existed)."""
        d = asdict(self)
        if self.levels == 1:
            del d["levels"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContextConfig:
        sizes = {k: int(d[k]) for k in ("codebook_size", "embed_dim", "channels", "layers")}
        return cls(**sizes, levels=int(d.get("levels", 1)))


def group_map(height: int, width: int, levels: int = 1) -> torch.Tensor:
    """(H, W) int64: the group (0 to 3 x levels) of each position, in coding order."""
    rows, cols = torch.arange(height).view(-1, 1), torch.arange(width).view(1, -1)
    spacing = 2**levels
    groups = torch.zeros(height, width, dtype=torch.int64)  # group 0: the anchors
    g = 1
    while spacing > 1:
        half = spacing // 2
        on_grid = (rows % half == 0) & (cols % half == 0)
        for r, c in _HALVING:
            groups[on_grid & (rows % spacing == r * half) & (cols % spacing == c * half)] = g
            g += 1
        spacing = half
    return groups


class ContextModel(nn.Module):
    """p(code | codes of earlier groups) for every position of a group, in one pass."""

    def __init__(self, config: ContextConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.embed = nn.Embedding(config.codebook_size + 1, config.embed_dim)  # last: unknown
        self.group_embed = nn.Embedding(config.num_groups, c)
        self.inp = nn.Conv2d(config.embed_dim + 1, c, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for _ in range(config.layers))
        self.out = nn.Linear(c, config.codebook_size)

    def forward(self, codes: torch.Tensor, group: int) -> torch.Tensor:
        """Logits (B, n, K) of the n positions of ``group`` (raster order) of maps ``codes``
        (B, H, W); only the codes of groups before ``group`` are read."""
        b, h, w = codes.shape
        groups = group_map(h, w, self.config.levels).to(codes.device)
        known = groups < group
        unknown = torch.full_like(codes, self.config.codebook_size)
        x = self.embed(torch.where(known, codes, unknown))  # (B, H, W, E)
        mask = known.to(x.dtype).expand(b, h, w).unsqueeze(-1)
        x = torch.cat([x, mask], dim=-1).permute(0, 3, 1, 2)
        x = F.gelu(self.inp(x)) + self.group_embed.weight[group].view(1, -1, 1, 1)
        for conv in self.convs:
            x = x + F.gelu(conv(x))
        where = (groups == group).view(-1)
        feats = x.permute(0, 2, 3, 1).reshape(b, h * w, -1)[:, where]
        return self.out(feats)

    def nll_bits(self, codes: torch.Tensor) -> torch.Tensor:
        """(B,) bits of each map under the model: all its groups."""
        total = codes.new_zeros(codes.shape[0], dtype=torch.float32)
        flat = codes.reshape(codes.shape[0], -1)
        groups = group_map(*codes.shape[1:], self.config.levels).to(codes.device).view(-1)
        for g in range(self.config.num_groups):
            if not bool((groups == g).any()):
                continue
            logits = self.forward(codes, g)
            target = flat[:, groups == g]
            nll = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            total = total + nll.sum(dim=1) / torch.log(torch.tensor(2.0))
        return total


def has_context(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / CONTEXT_DIR / checkpoint.CONFIG_FILE).is_file()


def save_context(
    model: ContextModel, run_dir: str | os.PathLike, extra: dict[str, Any] | None = None
) -> Path:
    """Write the context model into ``RUN_DIR/context`` (atomically, as a pair)."""
    stamp = {"vqvae_fingerprint": weights_fingerprint(run_dir), **(extra or {})}
    folder = Path(run_dir) / CONTEXT_DIR
    return save_prior_folder(model, folder, stamp, kind="context", key="context")


def load_context(run_dir: str | os.PathLike) -> ContextModel:
    """The run's context model in eval mode; CheckpointError if missing, damaged or trained
    for other VQ-VAE weights."""
    folder = Path(run_dir) / CONTEXT_DIR
    if not (folder / checkpoint.CONFIG_FILE).is_file():
        raise CheckpointError(
            f"{run_dir}: no context model (run `vqvae train-context {run_dir}` first)"
        )
    config = checkpoint.read_run_config(folder, kind="context")
    if config.get("vqvae_fingerprint") != weights_fingerprint(run_dir):
        raise CheckpointError(
            f"{folder}: the context model was trained for other VQ-VAE weights; train it again"
        )
    try:
        model = ContextModel(ContextConfig.from_dict(config.get("context", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder}: bad context model config ({exc})") from None
    checkpoint.load_weights_into(model, folder / checkpoint.WEIGHTS_FILE)
    return model.eval()

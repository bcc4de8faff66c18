"""Cached code maps: one uint16 memmap per split plus a JSON meta file (labels included).

Layout of a codes dir::

    train.codes   raw uint16 (N, h, w), C order (np.memmap)
    train.json    {"format_version", "kind": "codes", "split", "dataset", "shape": [N, h, w],
                   "dtype": "uint16", "codebook_size", "vqvae_fingerprint", "labels": [...] | null}
    test.codes / test.json
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import checkpoint
from ..errors import DataError
from ..models import VQVAE
from ..progress import track
from .datasets import ImageDataset

FORMAT_VERSION = 1


@dataclass
class CodeDataset:
    """Code maps of one dataset split.

    Attributes:
        indices: uint16 (N, h, w) array (a read-only memmap when loaded from disk).
        labels: int64 (N,) class ids, or None.
        codebook_size: K.
        meta: the JSON meta as read.
    """

    indices: np.ndarray
    labels: torch.Tensor | None
    codebook_size: int
    meta: dict

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.indices.shape[1]), int(self.indices.shape[2])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Code maps (B, h, w) int64 and labels (B,) (or None) for the given rows."""
        codes = torch.from_numpy(self.indices[idx.numpy()].astype(np.int64))
        labels = self.labels[idx] if self.labels is not None else None
        return codes, labels


@torch.no_grad()
def encode_dataset(
    model: VQVAE,
    dataset: ImageDataset,
    out_dir: str | os.PathLike,
    split: str,
    fingerprint: str | None = None,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> Path:
    """Encode every image of ``dataset`` into ``out_dir/{split}.codes`` + ``{split}.json``,
    each code map chosen by ``model.encode`` (the model's own assignment rule)."""
    k = model.quantizer.codebook_size
    if k > 1 << 16:
        raise DataError(f"codebook_size {k} does not fit uint16 code files")
    model.eval()
    chunks = []
    starts = range(0, len(dataset), batch_size)
    for start in track(starts, desc=f"encoding the {split} split", unit="batch"):
        x = dataset.batch(torch.arange(start, min(start + batch_size, len(dataset))))
        chunks.append(model.encode(x.to(device)).cpu().numpy().astype(np.uint16))
    array = np.ascontiguousarray(np.concatenate(chunks))  # (N, h, w)
    out_dir = Path(out_dir)
    checkpoint.remove_stale_temp_files(out_dir, (f"{split}.codes", f"{split}.json"))
    checkpoint.atomic_write_bytes(out_dir / f"{split}.codes", array.tobytes())
    labels = dataset.labels.tolist() if dataset.labels is not None else None
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "codes",
        "split": split,
        "dataset": dataset.name,
        "shape": list(array.shape),
        "dtype": "uint16",
        "codebook_size": k,
        "vqvae_fingerprint": fingerprint,
        "labels": labels,
    }
    checkpoint.write_json(out_dir / f"{split}.json", meta)
    return out_dir / f"{split}.codes"


def load_codes(codes_dir: str | os.PathLike, split: str) -> CodeDataset:
    """Open ``codes_dir/{split}.codes`` as a memmap, checked against its meta file."""
    codes_dir = Path(codes_dir)
    meta_path = codes_dir / f"{split}.json"
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: not found (run `vqvae encode-dataset` first)")
    try:
        meta = checkpoint.read_json(meta_path)
    except Exception as exc:
        raise DataError(str(exc)) from None
    if meta.get("kind") != "codes" or meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{meta_path}: not a codes meta file of format {FORMAT_VERSION}")
    shape = tuple(int(s) for s in meta.get("shape", ()))
    data_path = codes_dir / f"{split}.codes"
    if len(shape) != 3 or not data_path.is_file():
        raise DataError(f"{data_path}: missing, or bad shape in {meta_path}")
    if data_path.stat().st_size != 2 * int(np.prod(shape)):
        raise DataError(f"{data_path}: size does not match shape {list(shape)} in {meta_path}")
    indices = np.memmap(data_path, dtype=np.uint16, mode="r", shape=shape)
    labels = meta.get("labels")
    if labels is not None:
        if len(labels) != shape[0]:
            raise DataError(f"{meta_path}: {len(labels)} labels for {shape[0]} code maps")
        labels = torch.tensor(labels, dtype=torch.long)
    return CodeDataset(indices, labels, int(meta["codebook_size"]), meta)

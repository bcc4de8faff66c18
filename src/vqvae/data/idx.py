"""Readers for IDX files, the format of MNIST and Fashion-MNIST (gzip-compressed or raw).

An IDX file is a big-endian header followed by the array::

    magic (4 bytes) = 0x00 0x00 <type code> <ndim>
    ndim x uint32    dimension sizes
    data             prod(dims) items of the type (0x08 = uint8)

Images are ``magic 0x00000803`` (N, H, W) uint8 and labels ``magic 0x00000801`` (N,) uint8.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from vqvae.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
# File prefixes of the two splits in the canonical distribution.
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file, gzip-compressed or not (detected from its first bytes).

    Args:
        path: the ``.gz`` or raw IDX file.
        expected_magic: if given, the 4-byte magic number the file must start with.

    Returns:
        The array with the shape and dtype recorded in the header (native byte order).

    Raises:
        DataError: the file is missing, truncated, not IDX, or has an unexpected magic number.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            is_gzip = raw.read(2) == _GZIP_MAGIC
        opener = gzip.open if is_gzip else open
        with opener(path, "rb") as f:
            header = f.read(4)
            if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] not in _DTYPES:
                raise DataError(f"{path} is not an IDX file (bad magic number {header.hex()})")
            magic = int.from_bytes(header, "big")
            if expected_magic is not None and magic != expected_magic:
                raise DataError(
                    f"{path} has IDX magic number {magic:#010x}, expected {expected_magic:#010x}"
                )
            ndim = header[3]
            dims_bytes = f.read(4 * ndim)
            if len(dims_bytes) < 4 * ndim:
                raise DataError(f"{path} is truncated (incomplete IDX header)")
            dims = struct.unpack(f">{ndim}I", dims_bytes)
            dtype = _DTYPES[header[2]]
            out = np.empty(dims, dtype=dtype)
            _read_exactly(f, memoryview(out.reshape(-1).view(np.uint8)), path)
            if f.read(1):
                raise DataError(f"{path} has trailing data after the IDX array {dims}")
    except FileNotFoundError as e:
        raise DataError(f"IDX file not found: {path}") from e
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from e
    return out.astype(dtype.newbyteorder("="), copy=False)


def _read_exactly(f, buffer: memoryview, path: Path) -> None:
    # readinto may return short counts (gzip streams), so loop until the buffer is full.
    filled = 0
    while filled < len(buffer):
        n = f.readinto(buffer[filled:])
        if not n:
            raise DataError(f"{path} is truncated ({filled} of {len(buffer)} data bytes)")
        filled += n


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an IDX image file (magic 0x00000803).

    Returns:
        uint8 array of shape (N, H, W).
    """
    return read_idx(path, expected_magic=IMAGES_MAGIC)


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Read an IDX label file (magic 0x00000801).

    Returns:
        uint8 array of shape (N,).
    """
    return read_idx(path, expected_magic=LABELS_MAGIC)


def _candidates(folder: Path, prefix: str, kind: str, ndim: int) -> list[Path]:
    # Canonical names (gz or decompressed), plus the "train-images.idx3-ubyte" spelling.
    base = f"{prefix}-{kind}-idx{ndim}-ubyte"
    dotted = f"{prefix}-{kind}.idx{ndim}-ubyte"
    return [folder / f"{base}.gz", folder / base, folder / f"{dotted}.gz", folder / dotted]


def find_idx_split(folder: str | Path, split: str) -> tuple[Path, Path] | None:
    """Find the image and label files of a split in an MNIST-style folder.

    Args:
        folder: folder holding e.g. ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``.
        split: ``"train"`` or ``"test"`` (file prefix ``t10k``).

    Returns:
        ``(images_path, labels_path)``, or None when either is missing.
    """
    folder = Path(folder)
    prefix = _SPLIT_PREFIX[split]
    images = next((p for p in _candidates(folder, prefix, "images", 3) if p.is_file()), None)
    labels = next((p for p in _candidates(folder, prefix, "labels", 1) if p.is_file()), None)
    if images is None or labels is None:
        return None
    return images, labels


def load_idx_split(folder: str | Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of MNIST / Fashion-MNIST from a folder of IDX files.

    Args:
        folder: folder holding the four canonical IDX files (gz or raw).
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels)``: uint8 (N, 1, H, W) and int64 (N,).

    Raises:
        DataError: files missing or corrupt, or image and label counts disagree.
    """
    found = find_idx_split(folder, split)
    if found is None:
        prefix = _SPLIT_PREFIX[split]
        raise DataError(
            f"no {prefix}-images-idx3-ubyte[.gz] / {prefix}-labels-idx1-ubyte[.gz] in {folder}"
        )
    images_path, labels_path = found
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {images.shape} images but {labels_path} holds "
            f"{labels.shape} labels"
        )
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()

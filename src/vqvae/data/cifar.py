"""CIFAR-10 from either of two on-disk layouts.

* ``webp``: lossless WebP mosaics ``train_00.webp`` ... ``train_49.webp`` and ``test_00.webp`` ...
  ``test_09.webp`` (1000 images each, 25 rows x 40 columns of 32x32 tiles, row-major) plus
  ``labels.npz`` with uint8 arrays ``train`` and ``test``.
* ``pickle``: the official ``cifar-10-batches-py`` folder (``data_batch_1`` ... ``data_batch_5``,
  ``test_batch``), each a pickled dict with ``b"data"`` (N, 3072) uint8 rows (R plane, G plane,
  B plane) and ``b"labels"``.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqvae.errors import DataError
from vqvae.media.image import DECODE_ERRORS

PICKLE_DIR = "cifar-10-batches-py"
PICKLE_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
_TILE = 32

# The official batches are pickles; only the globals a numpy array needs may be loaded, so a
# malicious file cannot run code. numpy >= 2 renamed numpy.core to numpy._core.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 spell bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        canonical = module
        if module.startswith("numpy.core."):
            canonical = "numpy._core." + module.removeprefix("numpy.core.")
        if (canonical, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        if hasattr(np, "_core"):  # avoid numpy 2's deprecation warning for numpy.core
            module = canonical
        return super().find_class(module, name)


def find_cifar10(folder: str | Path) -> tuple[str, Path] | None:
    """Detect which CIFAR-10 layout a folder holds.

    Args:
        folder: a folder with the WebP mosaics + ``labels.npz``, the ``cifar-10-batches-py``
            folder itself, or its parent.

    Returns:
        ``("webp", folder)`` or ``("pickle", batches_folder)``, or None if neither is there.
    """
    folder = Path(folder)
    if (folder / "labels.npz").is_file() and any(folder.glob("*_00.webp")):
        return "webp", folder
    for candidate in (folder, folder / PICKLE_DIR):
        if any((candidate / name).is_file() for names in PICKLE_FILES.values() for name in names):
            return "pickle", candidate
    return None


def load_cifar10(folder: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of CIFAR-10 from either layout (see ``find_cifar10``).

    Args:
        folder: where the dataset is.
        split: ``"train"`` (50,000 images) or ``"test"`` (10,000).

    Returns:
        ``(images, labels)``: uint8 (N, 3, 32, 32) RGB and int64 (N,), in the original order.

    Raises:
        DataError: no CIFAR-10 files in ``folder``, or missing/corrupt files.
    """
    if split not in PICKLE_FILES:
        raise DataError(f"CIFAR-10 has splits 'train' and 'test', not {split!r}")
    found = find_cifar10(folder)
    if found is None:
        raise DataError(
            f"no CIFAR-10 files in {folder} (expected labels.npz + {split}_NN.webp, "
            f"or {PICKLE_DIR}/)"
        )
    layout, root = found
    if layout == "webp":
        return _load_webp(root, split)
    return _load_pickle(root, split)


def _decode_mosaic(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            m = np.asarray(img.convert("RGB"))  # (rows*32, cols*32, 3)
    except DECODE_ERRORS as e:
        raise DataError(f"cannot read CIFAR-10 mosaic {path}: {e}") from e
    h, w, _ = m.shape
    if h % _TILE or w % _TILE:
        raise DataError(f"{path} is {h}x{w}, not a mosaic of {_TILE}x{_TILE} tiles")
    rows, cols = h // _TILE, w // _TILE
    tiles = m.reshape(rows, _TILE, cols, _TILE, 3).transpose(0, 2, 4, 1, 3)  # (r, c, 3, 32, 32)
    return tiles.reshape(rows * cols, 3, _TILE, _TILE)


def _load_webp(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    pattern = re.compile(rf"{split}_(\d+)\.webp")
    chunks = {}
    for p in root.glob(f"{split}_*.webp"):
        if match := pattern.fullmatch(p.name):
            chunks[int(match.group(1))] = p
    if not chunks or sorted(chunks) != list(range(len(chunks))):
        raise DataError(f"{root} lacks some of {split}_00.webp ... {split}_NN.webp")
    paths = [chunks[i] for i in range(len(chunks))]
    try:
        with np.load(root / "labels.npz", allow_pickle=False) as npz:
            labels = np.asarray(npz[split])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {split!r} labels from {root / 'labels.npz'}: {e}") from e
    # (Threads do not help here: Pillow's WebP decoder holds the GIL, ~45 ms per mosaic.)
    images = np.concatenate([_decode_mosaic(p) for p in paths])
    if len(images) != len(labels):
        raise DataError(
            f"{root} has {len(images)} {split} images but {len(labels)} labels in labels.npz"
        )
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data, labels = batch[b"data"], batch[b"labels"]
    except FileNotFoundError as e:
        raise DataError(f"CIFAR-10 batch file not found: {path}") from e
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {e}") from e
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * _TILE * _TILE:
        raise DataError(f"{path}: expected uint8 (N, 3072) data, got {data.dtype} {data.shape}")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(data)} images but {labels.shape} labels")
    return data, labels


def _load_pickle(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    batches = [_read_batch(root / name) for name in PICKLE_FILES[split]]
    data = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    # Each row is the R plane, then G, then B, each 32x32 row-major: already (3, 32, 32).
    images = data.reshape(-1, 3, _TILE, _TILE)
    return torch.from_numpy(images), torch.from_numpy(labels)

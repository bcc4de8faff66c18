"""The entry point: ``load_dataset`` finds, reads and holds a dataset in memory as uint8.

Named datasets are looked up in this order, first match wins::

    data_dir argument  ->  $VQVAE_DATA_DIR  ->  embedded copy (mnist only)
        ->  download cache ($VQVAE_CACHE or ~/.cache/vqvae)  ->  download (if allowed)

where each of the first two may be the dataset's own folder or a parent holding a folder
named after the dataset (``data_dir/mnist``). Anything that is not a dataset name is a
folder of images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from vqvae.data import transforms
from vqvae.data.cifar import find_cifar10, load_cifar10
from vqvae.data.download import default_cache_dir
from vqvae.data.download import download as fetch
from vqvae.data.folder import load_folder
from vqvae.data.idx import find_idx_split, load_idx_split
from vqvae.errors import DataError

DATASET_NAMES = ("mnist", "fashion-mnist", "cifar10")
SPLITS = ("train", "test")
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
_ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}


@dataclass
class ImageDataset:
    """An in-memory image dataset.

    Attributes:
        images: uint8 (N, C, H, W), C = 1 (grayscale) or 3 (RGB). With ``random_crop`` set,
            these are the full images and ``batch`` crops them.
        labels: int64 (N,) class ids, or None (image folders).
        name: the dataset name (``"mnist"``, ...) or the folder path as given.
        random_crop: (h, w) random crop applied by ``batch``, or None.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    random_crop: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels is not None and self.labels.shape != (len(self.images),):
            raise ValueError(
                f"labels must have shape ({len(self.images)},), got {tuple(self.labels.shape)}"
            )
        if self.random_crop is not None:
            h, w = transforms.pair(self.random_crop, "random_crop")
            height, width = self.images.shape[-2:]
            if h > height or w > width:
                raise DataError(f"random_crop {h}x{w} is larger than the {height}x{width} images")
            self.random_crop = (h, w)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        """Number of channels C (1 or 3)."""
        return self.images.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the images ``batch`` returns (the crop size when random-cropping)."""
        if self.random_crop is not None:
            return self.random_crop
        return (self.images.shape[2], self.images.shape[3])

    def batch(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Gather images as a float batch.

        Args:
            idx: int64 (B,) indices into the dataset.
            generator: draws the random-crop offsets (one per image), making them reproducible;
                unused without ``random_crop``.

        Returns:
            float32 (B, C, h, w) in [0, 1], on the device of ``images``.
        """
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1).to(self.images.device)
        x = self.images[idx]  # (B, C, H, W) uint8
        if self.random_crop is not None:
            x = transforms.random_crop(x, self.random_crop, generator)
        return x.float().div_(255)

    def subset(self, n: int) -> ImageDataset:
        """The first ``n`` images (and labels) as a new dataset sharing memory with this one."""
        if n < 0:
            raise ValueError(f"subset size must be >= 0, got {n}")
        labels = self.labels[:n] if self.labels is not None else None
        return ImageDataset(self.images[:n], labels, self.name, self.random_crop)


def canonical_name(name: str) -> str | None:
    """The dataset name for ``name`` ("MNIST", "cifar-10", ...), or None if it is not one."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in DATASET_NAMES else None


def _holds(name: str, folder: Path, split: str) -> bool:
    if name == "cifar10":
        return find_cifar10(folder) is not None
    return find_idx_split(folder, split) is not None


def locate_dataset(
    name: str, split: str = "train", data_dir: str | Path | None = None, download: bool = False
) -> Path:
    """Find the folder holding a named dataset (see the module docstring for the order).

    Args:
        name: one of ``DATASET_NAMES``.
        split: ``"train"`` or ``"test"`` (the IDX files of that split must be present).
        data_dir: the dataset's folder, or a parent with a subfolder named ``name``.
        download: fetch into the cache if it is found nowhere else.

    Returns:
        The folder to load from.

    Raises:
        DataError: not found and ``download`` is False (or the download failed).
    """
    roots = [Path(data_dir).expanduser()] if data_dir is not None else []
    env = os.environ.get("VQVAE_DATA_DIR", "")
    roots += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    # The named subfolder first: MNIST and Fashion-MNIST files have identical names.
    candidates = [c for root in roots for c in (root / name, root)]
    if name == "mnist":
        candidates.append(EMBEDDED_DIR / "mnist")
    candidates.append(default_cache_dir() / name)
    for folder in candidates:
        if _holds(name, folder, split):
            return folder
    if download:
        return fetch(name, default_cache_dir())
    searched = ", ".join(str(c) for c in candidates)
    raise DataError(
        f"dataset {name!r} ({split}) not found locally (searched {searched}); pass --data-dir "
        "pointing at its files, or --download to fetch it"
    )


def image_folder(path: str, split: str, data_dir: str | Path | None) -> Path:
    """The folder of images ``path`` names for ``split`` (its train/ or test/ subfolder if it
    has them; relative paths also tried under ``data_dir``); DataError if there is none."""
    folder = Path(path).expanduser()
    if not folder.exists() and data_dir is not None and not folder.is_absolute():
        folder = Path(data_dir).expanduser() / folder
    if not folder.exists():
        raise DataError(
            f"{path!r} is neither a dataset name ({', '.join(DATASET_NAMES)}) nor an existing "
            "folder of images"
        )
    if folder.is_dir() and ((folder / "train").is_dir() or (folder / "test").is_dir()):
        if not (folder / split).is_dir():
            raise DataError(f"{folder} has train/test subfolders but no {split!r} subfolder")
        folder = folder / split
    return folder


def load_dataset(
    name_or_path: str,
    split: str = "train",
    data_dir: str | Path | None = None,
    download: bool = False,
    *,
    channels: int | None = None,
    resize: transforms.Size | None = None,
    center_crop: transforms.Size | None = None,
    random_crop: transforms.Size | None = None,
) -> ImageDataset:
    """Load a named dataset or a folder of images into memory.

    Transforms run in this order: channel conversion, resize, center crop (all once, at
    load time), then random crop (per batch, in ``ImageDataset.batch``).

    Args:
        name_or_path: ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, or a folder of images
            (searched recursively; relative paths are also tried under ``data_dir``). A folder
            with ``train``/``test`` subfolders uses the one named by ``split``.
        split: ``"train"`` or ``"test"``; ignored for plain image folders.
        data_dir: where to look for a named dataset first (its folder or a parent of it).
        download: fetch a named dataset into the cache when it is not found locally.
        channels: 1 (grayscale) or 3 (RGB); None keeps the dataset's own (folders: inferred
            from the first image).
        resize: int (shorter side, aspect kept) or (h, w).
        center_crop: int or (h, w).
        random_crop: int or (h, w); ``image_size`` then reports this size.

    Returns:
        The dataset, images uint8 (N, C, H, W); labels int64 (N,) for named datasets.

    Raises:
        DataError: anything wrong with the name, the files or the options.
    """
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1, 3 or None, got {channels!r}")
    name = canonical_name(name_or_path)
    if name is None:
        folder = image_folder(name_or_path, split, data_dir)
        images = load_folder(folder, channels, resize, center_crop, random_crop)
        return ImageDataset(images, None, name_or_path, _crop_size(random_crop))
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    folder = locate_dataset(name, split, data_dir, download)
    if name == "cifar10":
        images, labels = load_cifar10(folder, split)
    else:
        images, labels = load_idx_split(folder, split)
    images = transforms.convert_channels(images, channels)
    if resize is not None:
        images = transforms.resize(images, resize)
    if center_crop is not None:
        images = transforms.center_crop(images, center_crop)
    return ImageDataset(images, labels, name, _crop_size(random_crop))


def _crop_size(size: transforms.Size | None) -> tuple[int, int] | None:
    return None if size is None else transforms.pair(size, "random_crop")

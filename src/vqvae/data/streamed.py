"""Streamed images: a folder of image files or WebDataset ``.tar`` shards, decoded on demand.

Only the list of files (or, for shards, each shard's image count) is held in memory, so the
memory a run needs does not grow with the dataset. ``StreamedImages.read`` decodes, converts
and crops the images at given positions; the training loop calls it from
``torch.utils.data`` worker processes (``vqvae.train.batches``), evaluation calls ``batch``
in-process. Unreadable images are skipped and reported (``skipped``), never fatal; a dataset
with no readable image at all is an error.

Shards follow the WebDataset layout (a tar of files named ``KEY.EXT``); every image member
(png, jpg, jpeg, webp, bmp) is one image, other members (labels, metadata) are ignored. They
are read sequentially with ``tarfile``; an image's position is its index among the image
members of its shard, counted once from the tar headers, and a member's size is checked from
its header before it is read (``MAX_MEMBER_BYTES``). A name with an image extension that is
not a regular file (a FIFO could block a reader forever) is skipped with a warning.
"""

from __future__ import annotations

import bisect
import io
import os
import re
import sys
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import ImageOps, UnidentifiedImageError

from vqvae.data import transforms
from vqvae.data.datasets import ImageDataset, canonical_name, image_folder, load_dataset
from vqvae.errors import DataError
from vqvae.limits import MAX_PIXELS, check_pixels
from vqvae.media.image import (
    DECODE_ERRORS,
    IMAGE_EXTENSIONS,
    infer_channels,
    open_image,
    pixels_chw,
    to_8bit,
)

STREAM_ABOVE_BYTES = 256 << 20
"""``--data-loading auto`` streams a folder whose decoded images would take more than this."""

_META = re.compile(r"__[^/]*__($|/)")  # WebDataset's metadata members, skipped by its reader


def default_workers() -> int:
    """Loader processes per training process: min(4, CPU cores)."""
    return min(4, os.cpu_count() or 1)


def _require_webdataset() -> None:
    try:
        import webdataset  # noqa: F401
    except ImportError:
        raise DataError(
            "reading tar shards needs the webdataset package: pip install 'vqvae[webdataset]'"
        ) from None


def shard_paths(spec: str) -> list[str] | None:
    """The tar shards named by ``spec``, or None when it names no shards.

    ``spec`` is a brace pattern (``data/shard-{000..009}.tar``), one ``.tar`` file, or a
    folder whose files include ``.tar`` shards (sorted by name; subfolders not searched).

    Raises:
        DataError: a pattern or file names a shard that does not exist.
    """
    if "{" in spec and spec.endswith(".tar"):
        _require_webdataset()
        import braceexpand  # a dependency of webdataset

        paths = list(braceexpand.braceexpand(os.path.expanduser(spec)))
    elif spec.endswith(".tar") and not os.path.isdir(spec):
        paths = [os.path.expanduser(spec)]
    elif os.path.isdir(spec):
        with os.scandir(spec) as entries:
            paths = sorted(e.path for e in entries if e.name.endswith(".tar") and e.is_file())
        return paths or None
    else:
        return None
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"shard not found: {missing[0]}{more}")
    return paths


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def list_files(folder: Path, warn: Callable[[str], None] | None = None) -> np.ndarray:
    """Image files under ``folder`` (recursively, hidden ones skipped), as sorted relative
    POSIX paths in one compact bytes array (no per-file Python objects to keep alive).

    A name with an image extension that is not a regular file (a FIFO, a device, a socket,
    a broken link) is skipped with a warning line: reading it could block forever.
    """
    found: list[str] = []
    root = str(folder)
    warn = warn or _stderr
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        for name in filenames:
            if name.startswith(".") or not _is_image_name(name):
                continue
            if not os.path.isfile(os.path.join(dirpath, name)):  # follows links to files
                warn(f"warning: skipped {prefix + name}: {NOT_REGULAR}")
                continue
            found.append(prefix + name)
    if not found:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {folder}")
    found.sort()
    return np.array([f.encode("utf-8", "surrogateescape") for f in found], dtype=np.bytes_)


NOT_REGULAR = "not a regular file (a pipe, a device or a broken link)"


MAX_MEMBER_BYTES = 256 << 20
"""Largest image member of a tar shard that is read (256 MiB): checked from its tar header,
so a huge member is skipped with a warning instead of being read whole into memory."""


def _is_image_member(member: tarfile.TarInfo) -> bool:
    return member.isreg() and _is_image_name(member.name) and not _META.match(member.name)


def _image_members(path: str) -> Iterator[tuple[str, bytes | DataError]]:
    """(name, bytes) of a shard's image members in order, read sequentially; a member over
    ``MAX_MEMBER_BYTES`` gives a DataError in place of its bytes, unread. The members are
    the ones ``count_shard_images`` counts."""
    with tarfile.open(path, "r|") as tar:
        for member in tar:
            if not _is_image_member(member):
                continue
            if member.size > MAX_MEMBER_BYTES:
                yield (
                    member.name,
                    DataError(
                        f"a {member.size}-byte member, over the {MAX_MEMBER_BYTES >> 20} MiB "
                        "an image in a shard can be"
                    ),
                )
                continue
            handle = tar.extractfile(member)
            yield member.name, handle.read() if handle is not None else b""


def count_shard_images(path: str) -> int:
    """Image members of one shard, from its tar headers (the data is not read)."""
    try:
        with tarfile.open(path, "r:") as tar:
            return sum(1 for m in tar if _is_image_member(m))
    except (OSError, tarfile.TarError) as exc:
        raise DataError(f"cannot read shard {path}: {exc}".replace("\n", " ")) from None


def decode_image(
    data: bytes | Path, channels: int | None, max_pixels: int | None = MAX_PIXELS
) -> torch.Tensor:
    """Decode an image file or its bytes to uint8 (C, H, W) (EXIF orientation applied).

    Raises:
        DataError: not a readable image, or over ``max_pixels``.
    """
    if not isinstance(data, bytes) and data.exists() and not data.is_file():
        raise DataError(NOT_REGULAR)  # opening a FIFO would block
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with open_image(source, max_pixels) as img:
            check_pixels(*img.size, max_pixels, "image", DataError)
            img.load()
            img = ImageOps.exif_transpose(img)
            img = to_8bit(img, channels or infer_channels(img.mode))
    except DataError:
        raise
    except DECODE_ERRORS as exc:
        if isinstance(exc, UnidentifiedImageError):  # its message repeats the file name
            raise DataError("not a readable image") from None
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise DataError(f"not a readable image ({reason})") from None
    return torch.from_numpy(pixels_chw(img))


@dataclass
class ReadResult:
    """What ``StreamedImages.read`` returns.

    Attributes:
        x: uint8 (n, C, h, w), the readable images in the order asked (n may be smaller).
        skipped: (name, reason) of each image that could not be used.
    """

    x: torch.Tensor
    skipped: list[tuple[str, str]]


class _ShardCursor:
    """Sequential reads of image members across shards; reopens only to jump."""

    def __init__(self, paths: Sequence[str], starts: np.ndarray) -> None:
        self.paths, self.starts = paths, starts  # starts[i]: position of shard i's first image
        self.position = -1
        self.stream: Iterator[tuple[str, bytes]] | None = None

    def _open(self, shard: int, skip: int) -> Iterator[tuple[str, bytes | DataError]]:
        for i in range(shard, len(self.paths)):
            path = self.paths[i]
            expected = int(self.starts[i + 1] - self.starts[i])
            got = 0
            errors: list[Exception] = []
            try:
                for name, member in _image_members(path):
                    if got >= skip:
                        yield f"{path}:{name}", member
                    got += 1
            except (OSError, tarfile.TarError) as exc:
                errors.append(exc)
            reason = str(errors[0]).split(" @ ")[0] if errors else "fewer images than its header"
            for k in range(max(got, skip), expected):  # the images a damaged shard lost
                yield f"{path}[{k}]", DataError(f"unreadable shard ({reason})")
            skip = 0

    def read(self, position: int) -> tuple[str, bytes | DataError]:
        if self.stream is None or position != self.position:
            shard = bisect.bisect_right(self.starts, position) - 1
            self.stream = self._open(shard, position - int(self.starts[shard]))
        self.position = position + 1
        return next(self.stream)


class StreamedImages:
    """A folder of images or a set of tar shards, read image by image.

    Args:
        name: the dataset as the user gave it (folder, pattern or file).
        files: for a folder: the folder and its ``list_files`` array.
        shards: for shards: their paths.
        channels: 1 or 3; None: the first readable image's kind.
        random_crop: (h, w) random crop, drawn per batch (``read``'s offsets).
        center_crop: (h, w) center crop of every image (evaluation).
        warn: where a warning line about a skipped image goes (default: stderr).

    Attributes:
        kind: "folder" or "shards".
        source: the folder, or the shard paths (one a line).
        channels, image_size: of the batches it returns (``image_size`` is the crop size).
        full_size: (H, W) of the first readable image (the size every image must have when
            there is no crop; the range of the crop offsets).
        skipped: name -> reason of every image skipped so far in this process.
    """

    def __init__(
        self,
        name: str,
        *,
        files: tuple[Path, np.ndarray] | None = None,
        shards: Sequence[str] | None = None,
        channels: int | None = None,
        random_crop: tuple[int, int] | None = None,
        center_crop: tuple[int, int] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.random_crop, self.center_crop = random_crop, center_crop
        self.warn = warn or _stderr
        self.skipped: dict[str, str] = {}
        self.kind = "folder" if files is not None else "shards"
        self.labels = None  # (the interface of ImageDataset: folders have no labels)
        if files is not None:
            self.root, self.files = files
            self.source = str(self.root)
            self.count = len(self.files)
        else:
            assert shards is not None
            self.shards = list(shards)
            self.source = "\n".join(self.shards)
            counts = np.array([count_shard_images(p) for p in self.shards], dtype=np.int64)
            self.shard_counts = counts
            self.starts = np.concatenate([[0], np.cumsum(counts)])
            self.count = int(self.starts[-1])
            if self.count == 0:
                raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the shards {name}")
        self._cursors: dict[int, _ShardCursor] = {}
        self.channels, self.full_size = self._probe(channels)
        crop = random_crop or center_crop
        self.image_size = tuple(crop) if crop else self.full_size

    def __len__(self) -> int:
        return self.count

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cursors"] = {}  # open streams stay in their process
        return state

    def subset(self, n: int) -> StreamedImages:
        """The first ``n`` images (a view: nothing is read)."""
        if n < 0:
            raise ValueError(f"subset size must be >= 0, got {n}")
        other = object.__new__(StreamedImages)
        other.__dict__.update(self.__getstate__())
        other.count = min(n, self.count)
        if self.kind == "shards":
            other.shard_counts = np.clip(self.starts[1:], 0, n) - np.clip(self.starts[:-1], 0, n)
        return other

    # -- reading ----------------------------------------------------------------------------

    def _raw(self, position: int, stream: int) -> tuple[str, bytes | Path | DataError]:
        if self.kind == "folder":
            rel = self.files[position].decode("utf-8", "surrogateescape")
            return rel, self.root / rel
        if stream not in self._cursors:
            self._cursors[stream] = _ShardCursor(self.shards, self.starts)
        return self._cursors[stream].read(position)

    def _decode(
        self, position: int, channels: int | None, stream: int = 0
    ) -> tuple[str, torch.Tensor | str]:
        name, data = self._raw(position, stream)
        if isinstance(data, DataError):
            return name, str(data)
        try:
            return name, decode_image(data, channels)
        except DataError as exc:
            return name, str(exc)
        except OSError as exc:  # a file that vanished or cannot be opened
            return name, exc.strerror or str(exc)

    def _probe(self, channels: int | None) -> tuple[int, tuple[int, int]]:
        """Channels and size from the first readable image (DataError if there is none)."""
        first_reason = ""
        for position in range(self.count):
            name, image = self._decode(position, channels)
            if isinstance(image, torch.Tensor):
                self._cursors = {}
                self.first_position = position
                return image.shape[0], (image.shape[1], image.shape[2])
            first_reason = first_reason or f" (the first, {name}: {image})"
        raise DataError(f"no readable image in {self.name}: {self.count} tried{first_reason}")

    def read(
        self,
        positions: Sequence[int],
        generator: torch.Generator | None = None,
        rows: slice | None = None,
        stream: int = 0,
    ) -> ReadResult:
        """Decode, convert and crop the images at ``positions``.

        Random-crop offsets are drawn for all of ``positions`` from ``generator`` (as
        ``transforms.random_crop`` draws them for a batch of ``full_size`` images, so a
        folder of same-size images gives the batches of its in-RAM ``ImageDataset``); only
        ``rows`` of them (this process's share) are decoded. Shards are read sequentially:
        reads that continue where the last one of the same ``stream`` ended cost no seek.

        Returns:
            The readable images of ``positions[rows]`` and the skipped ones.

        Raises:
            DataError: without a crop, an image whose size is not ``full_size``.
        """
        n = len(positions)
        offsets = None
        if self.random_crop is not None:
            (h, w), (height, width) = self.random_crop, self.full_size
            device = generator.device if generator is not None else torch.device("cpu")
            top = torch.randint(0, max(height - h, 0) + 1, (n,), generator=generator, device=device)
            left = torch.randint(0, max(width - w, 0) + 1, (n,), generator=generator, device=device)
            offsets = torch.stack([top, left], 1).tolist()
        chosen = range(n)[rows] if rows is not None else range(n)
        images, skipped = [], []
        for i in chosen:
            name, image = self._decode(int(positions[i]), self.channels, stream)
            if isinstance(image, torch.Tensor):
                image, reason = self._fit(image, name, None if offsets is None else offsets[i])
                if reason is None:
                    images.append(image)
                    continue
            else:
                reason = image
            skipped.append((name, reason))
        if images:
            x = torch.stack(images)
        else:
            x = torch.empty((0, self.channels, *self.image_size), dtype=torch.uint8)
        return ReadResult(x, skipped)

    def _fit(
        self, image: torch.Tensor, name: str, offset: list[int] | None
    ) -> tuple[torch.Tensor, str | None]:
        """The image cropped to ``image_size``, or a reason to skip it."""
        height, width = image.shape[-2:]
        crop = self.random_crop or self.center_crop
        if crop is None:
            if (height, width) != self.full_size:
                h, w = self.full_size
                raise DataError(
                    f"{name} is {height}x{width} but the first image is {h}x{w}; pass "
                    "--random-crop SIZE to train on images of different sizes"
                )
            return image, None
        h, w = crop
        if h > height or w > width:
            return image, f"{height}x{width}, smaller than the {h}x{w} crop"
        if offset is None:
            return transforms.center_crop(image, (h, w)), None
        # Offsets were drawn for full_size images; another size takes them modulo its range.
        top, left = offset[0] % (height - h + 1), offset[1] % (width - w + 1)
        return image[:, top : top + h, left : left + w].contiguous(), None

    def note_skipped(self, skipped: Sequence[tuple[str, str]]) -> int:
        """Record skipped images, one warning line for each not seen before; how many new."""
        new = 0
        for name, reason in skipped:
            if name not in self.skipped:
                self.skipped[name] = reason
                self.warn(f"warning: skipped {name}: {reason}")
                new += 1
        return new

    def batch(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode images ``idx`` in this process as a float batch (unreadable ones left out).

        Returns:
            float32 (n, C, h, w) in [0, 1], n <= len(idx).
        """
        positions = torch.as_tensor(idx, dtype=torch.long).reshape(-1).tolist()
        result = self.read(positions, generator)
        self.note_skipped(result.skipped)
        return result.x.float().div_(255)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def open_streamed(
    path: str,
    folder: Path | None,
    *,
    channels: int | None = None,
    random_crop: tuple[int, int] | None = None,
    center_crop: tuple[int, int] | None = None,
    warn: Callable[[str], None] | None = None,
) -> StreamedImages:
    """A ``StreamedImages`` over tar shards (``path`` a pattern, a ``.tar`` or a folder of
    them) or over the image files under ``folder``."""
    options = {
        "channels": channels, "random_crop": random_crop, "center_crop": center_crop,
        "warn": warn,
    }  # fmt: skip
    shards = shard_paths(str(folder) if folder is not None else path)
    if shards is not None:
        _require_webdataset()
        return StreamedImages(path, shards=shards, **options)
    if folder is None:
        raise DataError(f"{path!r} names no tar shards")
    return StreamedImages(path, files=(folder, list_files(folder, warn)), **options)


def load_images(
    name_or_path: str,
    split: str = "train",
    data_dir: str | Path | None = None,
    download: bool = False,
    *,
    loading: str = "auto",
    random_crop: int | None = None,
    center_crop: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> ImageDataset | StreamedImages:
    """A split in RAM (``load_dataset``) or streamed, by ``loading``.

    Named datasets always load into RAM and tar shards always stream; a folder streams with
    ``loading="stream"``, or with "auto" when its decoded images (estimated from the first)
    would take more than ``STREAM_ABOVE_BYTES``; "memory" loads it.

    Raises:
        DataError: as ``load_dataset``; or no readable image in a streamed folder.
    """
    crops = {
        "random_crop": None if random_crop is None else transforms.pair(random_crop, "random_crop"),
        "center_crop": None if center_crop is None else transforms.pair(center_crop, "center_crop"),
    }
    if canonical_name(name_or_path) is None:
        data = _open_split(name_or_path, split, data_dir, loading != "memory", warn, crops)
        if data is not None and loading == "auto" and data.kind == "folder":
            c, (h, w) = data.channels, data.full_size
            if len(data) * c * h * w <= STREAM_ABOVE_BYTES:
                data = None  # small enough: faster in RAM
        if data is not None:
            return data
    return load_dataset(
        name_or_path, split, data_dir, download, random_crop=random_crop, center_crop=center_crop
    )


def _open_split(path: str, split: str, data_dir, folders: bool, warn, crops: dict):
    """The split streamed: tar shards always, a folder if ``folders`` (else None)."""
    if "{" in path or path.endswith(".tar"):
        return open_streamed(path, None, warn=warn, **crops)
    folder = image_folder(path, split, data_dir)
    if not folder.is_dir() or not (folders or shard_paths(str(folder))):
        return None  # load_dataset says what is wrong with it, or loads it into RAM
    return open_streamed(path, folder, warn=warn, **crops)

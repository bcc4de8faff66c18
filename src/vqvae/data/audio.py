"""Audio datasets: FSDD and folders of .wav / .flac files, held in memory as one float32
stream of clips.

Reading and writing one audio file is ``vqvae.media.audio``; its names are also here, as
before (``read_audio``, ``write_audio``, ``resample``, ``AUDIO_EXTENSIONS``, ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vqvae import progress
from vqvae.errors import DataError
from vqvae.media.audio import (
    AUDIO_EXTENSIONS,
    MAX_RATE,
    MIN_RATE,
    SUBTYPES,
    read_audio,
    resample,
    sample_rate_of,
    write_audio,
)
from vqvae.media.image import IMAGE_EXTENSIONS

from .augment import SpeechAugment

__all__ = [
    "AUDIO_DATASETS",
    "AUDIO_EXTENSIONS",
    "MAX_RATE",
    "MIN_RATE",
    "SUBTYPES",
    "AudioDataset",
    "is_audio_dataset",
    "list_audio",
    "load_audio_dataset",
    "load_audio_splits",
    "locate_fsdd",
    "read_audio",
    "resample",
    "write_audio",
]

AUDIO_DATASETS = ("fsdd", "fsdd-speakers", "fsdd-heldout")
"""Named audio datasets (``vqvae train --dataset fsdd``): "fsdd", all six speakers in the
dataset's official split; "fsdd-speakers", the same without the held-out speakers (train on
it to keep them unseen); "fsdd-heldout", every recording of the held-out speakers (a test
split only)."""
FSDD_RATE = 8000
FSDD_TEST_INDICES = range(5)  # the dataset's official split: index 0-4 test, 5-49 train
FSDD_HELDOUT_SPEAKERS = ("nicolas", "theo")
"""FSDD speakers that no model trained on "fsdd-speakers" hears: its unseen voices."""


@dataclass
class AudioDataset:
    """Mono clips held in memory as one float32 stream (16-bit PCM would halve it; FSDD is
    ~21 MB as float32).

    ``len`` is the number of clips; ``batch(idx, generator)`` gives one random fixed-length
    segment per index (starting at a random sample of that clip, running on into the next
    clips: the stream wraps around), like ``ImageDataset.batch``. ``clip(i)`` is a whole clip.

    Attributes:
        samples: float32 (N,) every clip, end to end.
        offsets: int64 (n + 1,) clip i is ``samples[offsets[i]:offsets[i + 1]]``.
        sample_rate: Hz.
        name: the dataset name or folder.
        segment: samples per training segment (``batch``); None: the longest clip.
        labels: int64 (n,) class ids (FSDD: the digit), or None.
        paths: the clips' files.
        augment: a ``data.augment.SpeechAugment`` applied to every ``batch`` (training
            segments), or None.
    """

    samples: torch.Tensor
    offsets: torch.Tensor
    sample_rate: int
    name: str
    segment: int | None = None
    labels: torch.Tensor | None = None
    paths: list[Path] = field(default_factory=list)
    augment: SpeechAugment | None = None

    def __post_init__(self) -> None:
        if len(self.offsets) < 2 or int(self.offsets[-1]) != len(self.samples):
            raise ValueError("offsets must run from 0 to len(samples)")
        if self.segment is not None and not 1 <= self.segment:
            raise DataError(f"the segment length must be >= 1 sample, got {self.segment}")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    channels = 1
    modality = "audio"

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    def clip(self, i: int) -> torch.Tensor:
        """Clip ``i`` as float32 (1, 1, T)."""
        return self.samples[int(self.offsets[i]) : int(self.offsets[i + 1])].view(1, 1, -1)

    def batch(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One segment of ``segment`` samples per index, starting at a random sample of that
        clip (drawn from ``generator``) -> float32 (B, 1, segment)."""
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        length = self.segment or int(self.lengths.max())
        starts = (
            self.offsets[idx]
            + (torch.rand(len(idx), generator=generator) * self.lengths[idx]).long()
        )
        if self.augment is not None:  # segments of each one's speed, then the effects
            speeds = self.augment.draw_speeds(len(idx), generator)
            sources = [
                self.samples[(start + torch.arange(self.augment.source_length(length, speed)))
                             % len(self.samples)]
                for start, speed in zip(starts.tolist(), speeds, strict=True)
            ]  # fmt: skip
            return self.augment(sources, length, generator)
        positions = (starts[:, None] + torch.arange(length)) % len(self.samples)
        return self.samples[positions].unsqueeze(1)

    def subset(self, n: int) -> AudioDataset:
        """The first ``n`` clips."""
        n = max(0, min(n, len(self)))
        offsets = self.offsets[: n + 1]
        return AudioDataset(
            self.samples[: int(offsets[-1])],
            offsets,
            self.sample_rate,
            self.name,
            self.segment,
            None if self.labels is None else self.labels[:n],
            self.paths[:n],
            self.augment,
        )


def is_audio_dataset(name_or_path: str | None, data_dir: str | Path | None = None) -> bool:
    """Whether ``--dataset`` names audio: "fsdd", or a folder whose files are audio files
    (its first file with a known extension, in sorted order, is .wav or .flac)."""
    if not isinstance(name_or_path, str):  # None, or a malformed setting checked later
        return False
    if name_or_path.strip().lower() in AUDIO_DATASETS:
        return True
    folder = _folder(name_or_path, data_dir)
    if folder is None:
        return False
    known = (*AUDIO_EXTENSIONS, *IMAGE_EXTENSIONS)
    for path in _walk(folder):
        if path.suffix.lower() in known:
            return path.suffix.lower() in AUDIO_EXTENSIONS
    return False


def _folder(name_or_path: str, data_dir: str | Path | None) -> Path | None:
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir() and data_dir is not None and not folder.is_absolute():
        folder = Path(data_dir).expanduser() / folder
    return folder if folder.is_dir() else None


def _walk(folder: Path):
    """Files under ``folder``, recursively, sorted, hidden ones skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def list_audio(folder: str | Path) -> list[Path]:
    """The .wav / .flac files under ``folder``, recursively, sorted (hidden ones skipped)."""
    return [p for p in _walk(Path(folder)) if p.suffix.lower() in AUDIO_EXTENSIONS]


def locate_fsdd(data_dir: str | Path | None = None) -> Path:
    """The ``recordings`` folder of FSDD: under ``data_dir`` (the dataset's folder or a parent
    of it), then $VQVAE_DATA_DIR (likewise). DataError if not found."""
    roots = [Path(data_dir).expanduser()] if data_dir is not None else []
    env = os.environ.get("VQVAE_DATA_DIR", "")
    roots += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    candidates = [c for root in roots for c in (root / "fsdd", root)]
    for folder in candidates:
        for recordings in (folder / "recordings", folder):
            if any(recordings.glob("*_*_*.wav")):
                return recordings
    searched = ", ".join(str(c) for c in candidates) or "nowhere: no --data-dir nor VQVAE_DATA_DIR"
    raise DataError(
        f"dataset 'fsdd' not found (searched {searched}); pass --data-dir pointing at the Free "
        "Spoken Digit Dataset (its recordings/ folder or a parent of it)"
    )


def _fsdd_split(folder: Path, split: str, name: str = "fsdd") -> tuple[list[Path], list[int]]:
    """(paths, digits) of one split of a named FSDD dataset (``AUDIO_DATASETS``)."""
    if name == "fsdd-heldout" and split == "train":
        raise DataError("fsdd-heldout is held out of all training: it has a test split only")
    paths, labels = [], []
    for path in sorted(folder.glob("*_*_*.wav")):
        digit, speaker, index = path.stem.split("_", 2)
        if not (digit.isdigit() and index.isdigit()):
            continue
        heldout = speaker in FSDD_HELDOUT_SPEAKERS
        if name == "fsdd-heldout":
            wanted = heldout  # every recording of theirs
        else:
            in_split = (int(index) in FSDD_TEST_INDICES) == (split == "test")
            wanted = in_split and not (heldout and name == "fsdd-speakers")
        if wanted:
            paths.append(path)
            labels.append(int(digit))
    return paths, labels


def load_audio_dataset(
    name_or_path: str,
    split: str = "train",
    data_dir: str | Path | None = None,
    sample_rate: int | None = None,
    segment: int | None = None,
) -> AudioDataset:
    """Load "fsdd" (official split: recordings with index 0-4 test, 5-49 train),
    "fsdd-speakers" / "fsdd-heldout" (``AUDIO_DATASETS``) or a folder of .wav / .flac files (a folder with train/ and test/ subfolders uses the one named by
    ``split``; a plain folder is both splits) into memory.

    Args:
        sample_rate: resample to this rate (None: FSDD's 8 kHz, or a folder's first file's).
        segment: samples per training segment of ``batch`` (None: the longest clip).

    Raises:
        DataError: not found, no audio files, or a file ``read_audio`` refuses.
    """
    if split not in ("train", "test"):
        raise DataError(f"split must be train or test, got {split!r}")
    labels: list[int] | None = None
    if name_or_path.strip().lower() in AUDIO_DATASETS:
        name = name_or_path.strip().lower()
        paths, labels = _fsdd_split(locate_fsdd(data_dir), split, name)
        sample_rate = sample_rate or FSDD_RATE
    else:
        name = name_or_path
        folder = _folder(name_or_path, data_dir)
        if folder is None:
            raise DataError(f"{name_or_path!r}: no such folder of audio files")
        if (folder / "train").is_dir() or (folder / "test").is_dir():
            if not (folder / split).is_dir():
                raise DataError(f"{folder} has train/test subfolders but no {split!r} subfolder")
            folder = folder / split
        paths = list_audio(folder)
    if not paths:
        raise DataError(f"{name_or_path}: no .wav or .flac files ({split} split)")
    if sample_rate is None:
        sample_rate = sample_rate_of(paths[0])
    clips = []
    bar = progress.Progress(len(paths), f"reading {name} ({split})", "file")
    for path in paths:
        clips.append(read_audio(path, sample_rate)[0])
        bar.update()
    bar.close()
    offsets = np.cumsum([0] + [len(c) for c in clips])
    return AudioDataset(
        torch.from_numpy(np.concatenate(clips)),
        torch.from_numpy(offsets.astype(np.int64)),
        int(sample_rate),
        name,
        segment,
        None if labels is None else torch.tensor(labels, dtype=torch.long),
        paths,
    )


def load_audio_splits(data, sample_rate: int | None = None) -> tuple[AudioDataset, AudioDataset]:
    """The training and evaluation splits of an audio ``DataConfig``: ``random_crop`` is the
    training segment in samples (None: the longest clip), evaluation takes whole clips, both
    resampled to ``sample_rate`` (None: the data's own; a resumed run passes its model's);
    ``augment`` augments the training segments (``SpeechAugment``)."""
    train = load_audio_dataset(
        data.dataset, "train", data.data_dir, sample_rate, segment=data.random_crop
    )
    test = load_audio_dataset(data.dataset, "test", data.data_dir, train.sample_rate)
    if data.train_subset:
        train = train.subset(data.train_subset)
    if data.eval_subset:
        test = test.subset(data.eval_subset)
    if getattr(data, "augment", False):
        train.augment = SpeechAugment(train.sample_rate)
    return train, test

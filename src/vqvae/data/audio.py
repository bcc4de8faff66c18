"""Audio files: reading WAV/FLAC (and whatever else libsndfile reads) as mono float32 in
[-1, 1] at a chosen sample rate, and writing 16-bit WAV atomically.

Only mono files of 16-, 24- or 32-bit PCM or 32/64-bit float samples are read: a
multi-channel file is refused rather than silently downmixed (the caller decides how to mix),
and so are 8-bit and companded (u-law, A-law, ADPCM, ...) files. Resampling uses a polyphase
FIR filter (``scipy.signal.resample_poly``, Kaiser window) and says so in one line on stderr.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vqvae import progress
from vqvae.checkpoint import atomic_write
from vqvae.errors import DataError
from vqvae.limits import MAX_AUDIO_SECONDS, check_audio_seconds

AUDIO_EXTENSIONS = (".flac", ".wav")
"""File extensions an audio folder is recognised by (``--dataset PATH``)."""

SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
"""libsndfile sample formats ``read_audio`` accepts."""

MIN_RATE, MAX_RATE = 1_000, 384_000


def read_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
) -> tuple[np.ndarray, int]:
    """Read a mono audio file as float32 samples in [-1, 1].

    Args:
        path: a WAV, FLAC, ... file (anything libsndfile reads).
        sample_rate: resample to this rate when the file's differs (one line on stderr says
            so); None keeps the file's rate.
        max_seconds: refuse files longer than this (checked from the header); None: no limit.

    Returns:
        (samples (T,) float32, rate): rate is ``sample_rate`` when given.

    Raises:
        DataError (one line) for a missing, empty, non-audio, multi-channel, too long file or
        an unsupported sample format.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not an audio file")
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        if path.exists() and path.stat().st_size == 0:
            raise DataError(f"{path}: empty file") from None
        reason = str(exc).split(":")[-1].strip() if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a readable audio file ({reason})") from None
    with handle:
        rate, channels, frames, subtype = (
            handle.samplerate,
            handle.channels,
            handle.frames,
            handle.subtype,
        )
        if subtype not in SUBTYPES:
            raise DataError(
                f"{path}: unsupported sample format {subtype} (expected 16-, 24- or 32-bit PCM "
                "or float samples)"
            )
        if channels != 1:
            raise DataError(
                f"{path}: has {channels} channels; only mono audio is read (mix it down first, "
                "e.g. sox in.wav -c 1 out.wav)"
            )
        if not MIN_RATE <= rate <= MAX_RATE:
            raise DataError(f"{path}: sample rate {rate} Hz is out of range")
        if frames <= 0:
            raise DataError(f"{path}: empty audio (no samples)")
        check_audio_seconds(frames, rate, max_seconds, str(path), DataError)
        try:
            samples = handle.read(frames, dtype="float32", always_2d=False)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise DataError(f"{path}: corrupt audio data ({exc})") from None
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        raise DataError(f"{path}: empty audio (no samples)")
    if not np.isfinite(samples).all():
        raise DataError(f"{path}: holds samples that are not finite numbers")
    np.clip(samples, -1.0, 1.0, out=samples)
    if sample_rate is not None and sample_rate != rate:
        samples = resample(samples, rate, sample_rate)
        if not progress.is_quiet():
            print(f"vqvae: resampled {path} from {rate} Hz to {sample_rate} Hz", file=sys.stderr)
        rate = sample_rate
    return samples, rate


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """``samples`` (T,) at ``rate`` Hz -> float32 (ceil(T * new_rate / rate),) at ``new_rate``
    Hz, by polyphase filtering (band-limited to the lower of the two Nyquist frequencies)."""
    from scipy.signal import resample_poly

    for name, value in (("rate", rate), ("new_rate", new_rate)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if rate == new_rate:
        return np.asarray(samples, dtype=np.float32)
    g = math.gcd(rate, new_rate)
    out = resample_poly(np.asarray(samples, dtype=np.float64), new_rate // g, rate // g)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def write_audio(path: str | os.PathLike, samples, rate: int) -> None:
    """Write mono ``samples`` ((T,) or (1, T); numpy or torch; floats in [-1, 1], clipped) as a
    16-bit PCM WAV file at ``rate`` Hz, atomically."""
    import soundfile as sf

    if hasattr(samples, "detach"):
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 2 and samples.shape[0] == 1:
        samples = samples[0]
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (T,) or (1, T), got shape {samples.shape}")
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"rate must be an integer in [{MIN_RATE}, {MAX_RATE}], got {rate!r}")
    # the scale libsndfile reads 16-bit PCM with (k / 32768): 16-bit input round-trips exactly
    pcm = np.clip(np.round(np.nan_to_num(samples) * 32768.0), -32768, 32767).astype(np.int16)
    atomic_write(path, lambda tmp: sf.write(tmp, pcm, rate, subtype="PCM_16", format="WAV"))


# ---- datasets ---------------------------------------------------------------------------------

AUDIO_DATASETS = ("fsdd",)
"""Named audio datasets (``vqvae train --dataset fsdd``)."""
FSDD_RATE = 8000
FSDD_TEST_INDICES = range(5)  # the dataset's official split: index 0-4 test, 5-49 train


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
    """

    samples: torch.Tensor
    offsets: torch.Tensor
    sample_rate: int
    name: str
    segment: int | None = None
    labels: torch.Tensor | None = None
    paths: list[Path] = field(default_factory=list)

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
    from vqvae.data.folder import IMAGE_EXTENSIONS

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


def _fsdd_split(folder: Path, split: str) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for path in sorted(folder.glob("*_*_*.wav")):
        digit, _, index = path.stem.split("_", 2)
        if not (digit.isdigit() and index.isdigit()):
            continue
        if (int(index) in FSDD_TEST_INDICES) == (split == "test"):
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
    """Load "fsdd" (official split: recordings with index 0-4 test, 5-49 train) or a folder
    of .wav / .flac files (a folder with train/ and test/ subfolders uses the one named by
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
    if name_or_path.strip().lower() == "fsdd":
        name = "fsdd"
        paths, labels = _fsdd_split(locate_fsdd(data_dir), split)
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
        import soundfile as sf

        try:
            sample_rate = int(sf.info(str(paths[0])).samplerate)
        except (sf.LibsndfileError, RuntimeError, OSError):
            read_audio(paths[0])  # raises its one-line error
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
    resampled to ``sample_rate`` (None: the data's own; a resumed run passes its model's)."""
    train = load_audio_dataset(
        data.dataset, "train", data.data_dir, sample_rate, segment=data.random_crop
    )
    test = load_audio_dataset(data.dataset, "test", data.data_dir, train.sample_rate)
    if data.train_subset:
        train = train.subset(data.train_subset)
    if data.eval_subset:
        test = test.subset(data.eval_subset)
    return train, test

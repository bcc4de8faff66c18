"""``compress_audio`` / ``decompress_audio``: speech to ``.vqz`` bytes (format version 3) and back.

::

    samples (T,) at the model's rate --x gain g (choose_gain_db)--> encoder
        --> residual codes (S, L), L = ceil(T / hop)
        --keep the first k stages (k: the most whose coded file fits --bitrate)--> (k, L)
        --entropy model tables (one per stage) + range coder--> payload
        --container--> header (rate, T, hop, k, g) | payload | crc32

    bytes --parse + checks (magic, version, crc, model, entropy model, length limit)-->
        payload --range decoder--> (k, L) --decoder with k stages--> crop to T
        --postfilter (spectral sharpening)--> keep within [-1, 1], divide by g

A residual quantizer trained with quantizer dropout decodes from any number of its first
stages, so one model serves every bitrate: ``k`` stages cost ``k * log2(K) * rate / hop``
bit/s before entropy coding (the model's nominal rate, ``model.bitrate(k)``); ``bitrate``
is a ceiling on the coded file's own rate, header included.

Level: a model codes some levels better than others (the levels it trained at), so the
encoder tries the sound at its own level and lifted to a few peak levels (``LEVEL_TARGETS``),
decodes a few seconds of each, and codes it at the level whose decoded sound is closest to
the input (``choose_gain_db``); the gain travels in the header and the decoder divides by
it (the result kept within full scale).
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from .. import pretrained
from ..errors import DataError
from ..limits import MAX_AUDIO_SECONDS, check_audio_seconds
from ..media.audio import read_audio, resample
from ..models.losses import waveform_loss
from . import container, entropy
from .audio_refine import refine_codes
from .container import GAIN_UNIT, AudioHeader, FormatError
from .entropy import EntropyModel
from .loading import Codec, load, model_fingerprint, resolve
from .postfilter import SHARPENING, check_exponent
from .postfilter import postfilter as apply_postfilter
from .stream import NOT_AUDIO, read_stream

LEVEL_TARGETS = (-1.0, -10.0, -20.0, -30.0)
"""Peak levels (dBFS) a sound is tried at, beside its own level."""
MAX_LEVEL_GAIN_DB = 60.0
"""The most a sound is lifted."""
SEARCH_SECONDS = 3.0
"""How much of the sound (its loudest stretch) the level search decodes."""


def level_gain_db(x: np.ndarray, target_dbfs: float) -> float:
    """The gain in dB (a multiple of 1/64, at most ``MAX_LEVEL_GAIN_DB`` either way) that
    brings the peak of samples ``x`` to ``target_dbfs`` (rounded down: the peak never passes
    it); 0 for silence."""
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak <= 0.0:
        return 0.0
    gain = min(max(target_dbfs - 20.0 * math.log10(peak), -MAX_LEVEL_GAIN_DB), MAX_LEVEL_GAIN_DB)
    return math.floor(gain * GAIN_UNIT) / GAIN_UNIT


def loudest_stretch(x: np.ndarray, samples: int) -> np.ndarray:
    """The ``samples`` long part of ``x`` with the most energy (all of ``x`` if shorter)."""
    if len(x) <= samples:
        return x
    energy = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    start = int(np.argmax(energy[samples:] - energy[:-samples]))
    return x[start : start + samples]


@torch.no_grad()
def choose_gain_db(model, x: np.ndarray) -> float:
    """The gain to code samples ``x`` at: 0 dB (its own level) or one bringing its peak to a
    ``LEVEL_TARGETS`` level, whichever gives the decoded sound (all stages, its loudest
    ``SEARCH_SECONDS``, brought back to the input's level) the lowest training loss against
    the input. The same sound always gets the same gain."""
    excerpt = loudest_stretch(x, int(SEARCH_SECONDS * model.sample_rate))
    gains = sorted({0.0, *(level_gain_db(x, target) for target in LEVEL_TARGETS)})
    if len(gains) == 1:
        return 0.0
    device = next(model.parameters()).device
    reference = torch.from_numpy(excerpt).to(device)[None, None]
    losses, training = [], model.training
    model.eval()  # no quantizer dropout or codebook updates in the search
    try:
        for gain in gains:
            lifted = torch.from_numpy((excerpt * _amplitude(gain)).astype(np.float32))
            y = (model.reconstruct(lifted.to(device)[None, None]) / _amplitude(gain)).clamp(-1, 1)
            losses.append(float(waveform_loss(y, reference)))
    finally:
        model.train(training)
    return gains[int(np.argmin(losses))]


def _amplitude(gain_db: float) -> float:
    return 10.0 ** (gain_db / 20.0)


def _audio_model(model, entropy_model: EntropyModel | None):
    """(audio VQ-VAE, entropy model or None) of what the caller gave (None: the shipped
    speech model)."""
    if model is None:
        model = pretrained.for_audio()
    model, entropy_model = resolve(model, entropy_model)
    if model.modality != "audio":
        raise DataError("this is an image model; audio needs a speech model (e.g. fsdd)")
    return model, entropy_model


def stages_for_bitrate(model, bitrate: float) -> int:
    """The most residual stages whose nominal rate ``model.bitrate(k)`` is at most ``bitrate``
    bit/s. The coded file's rate differs by what the entropy model saves or loses on this
    sound, plus the header.

    Raises:
        DataError: ``bitrate`` is below one stage's rate.
    """
    if not (isinstance(bitrate, (int, float)) and math.isfinite(bitrate) and bitrate > 0):
        raise DataError(f"bitrate must be a positive number of bit/s, got {bitrate!r}")
    fitting = [k for k in range(1, model.num_stages + 1) if model.bitrate(k) <= bitrate + 1e-9]
    if not fitting:
        raise DataError(
            f"bitrate {bitrate:g} bit/s is below this model's lowest, {model.bitrate(1):g} bit/s "
            "(one residual stage)"
        )
    return fitting[-1]


def _samples(audio, sample_rate: int | None, model, max_seconds: float | None) -> np.ndarray:
    """A path / (T,) array or tensor at ``sample_rate`` (None: the model's) -> float32 (T,) at
    the model's rate, in [-1, 1]."""
    if isinstance(audio, (str, os.PathLike)):
        return read_audio(audio, model.sample_rate, max_seconds)[0]
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    if not isinstance(audio, np.ndarray):
        raise TypeError(f"cannot compress a {type(audio).__name__} as audio")
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise DataError(f"expected mono samples (T,), got shape {tuple(audio.shape)}")
    if a.size == 0:
        raise DataError("empty audio (no samples)")
    if not np.isfinite(a).all():
        raise DataError("audio holds samples that are not finite numbers")
    rate = model.sample_rate if sample_rate is None else int(sample_rate)
    check_audio_seconds(len(a), rate, max_seconds, "the audio", DataError)
    a = np.clip(a, -1.0, 1.0)
    return resample(a, rate, model.sample_rate) if rate != model.sample_rate else a


def _choose_entropy(model, entropy_model: EntropyModel | None) -> EntropyModel:
    if entropy_model is None:
        return entropy.UniformEntropyModel(model.quantizer.codebook_size)
    if entropy_model.num_symbols != model.quantizer.codebook_size:
        raise ValueError(
            f"entropy model has {entropy_model.num_symbols} symbols, the codebook "
            f"{model.quantizer.codebook_size}"
        )
    if entropy_model.name == "prior":
        raise DataError("the prior codes image maps; code audio with --entropy-model static")
    return entropy_model


def encode_audio_indices(
    model,
    audio,
    sample_rate: int | None = None,
    bitrate: float | None = None,
    stages: int | None = None,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
    refine_steps: int = 0,
    normalize: bool = True,
) -> torch.Tensor:
    """The code map ``compress_audio`` (same arguments) writes: int64 (k, L)."""
    model, entropy_model = _audio_model(model, None)
    x = _samples(audio, sample_rate, model, max_seconds)
    gain_db = _gain(model, x, normalize)
    return _choose_codes(model, x, gain_db, bitrate, stages, entropy_model, refine_steps)


def _gain(model, x: np.ndarray, normalize: bool) -> float:
    if not isinstance(normalize, bool):
        raise DataError(f"normalize must be True or False, got {normalize!r}")
    return choose_gain_db(model, x) if normalize else 0.0


def _stages(model, stages: int | None) -> int:
    if stages is None:
        return model.num_stages
    if isinstance(stages, bool) or not isinstance(stages, int):
        raise DataError(f"stages must be an integer, got {stages!r}")
    if not 1 <= stages <= model.num_stages:
        raise DataError(f"stages must be in 1..{model.num_stages} for this model, got {stages}")
    return stages


def _choose_codes(
    model, x: np.ndarray, gain_db: float, bitrate, stages, entropy_model, refine_steps
) -> torch.Tensor:
    """The codes (k, L) of samples ``x`` coded at ``gain_db``: the first ``stages`` stages,
    or the most stages whose file fits ``bitrate`` (``_within_bitrate``)."""
    if bitrate is not None and stages is not None:
        raise ValueError("give bitrate or stages, not both")
    lifted = (x * _amplitude(gain_db)).astype(np.float32) if gain_db else x
    if bitrate is None:
        return _encode(model, lifted, _stages(model, stages), refine_steps)
    return _within_bitrate(model, lifted, len(x), gain_db, bitrate, entropy_model, refine_steps)


def _within_bitrate(
    model, x: np.ndarray, samples: int, gain_db: float, bitrate, entropy_model, refine_steps
) -> torch.Tensor:
    """The most stages whose coded file (header included) is at most ``bitrate`` bit/s:
    measured by coding the encoder's codes with each number of stages; refined codes at
    that number (or one fewer) when ``refine_steps`` asks for them and they still fit, else
    the encoder's."""
    stages_for_bitrate(model, bitrate)  # the nominal check: a bitrate below one stage's
    budget = bitrate * samples / model.sample_rate  # bits the file may take

    pack = _packer(model, samples, entropy_model, gain_db)

    def fits(codes: torch.Tensor) -> bool:
        return 8 * len(pack(codes)) <= budget

    plain = _encode(model, x, model.num_stages, 0)  # (S, L): prefixes are the k-stage codes
    fitting = [k for k in range(1, model.num_stages + 1) if fits(plain[:k])]
    if not fitting:
        lowest = 8 * len(pack(plain[:1]))
        raise DataError(
            f"bitrate {bitrate:g} bit/s is below this sound's lowest, "
            f"{lowest * model.sample_rate / samples:.0f} bit/s (one residual stage, header "
            "included)"
        )
    k = fitting[-1]
    if refine_steps:
        for stages in (k, k - 1)[: 2 if k > 1 else 1]:
            refined = _encode(model, x, stages, refine_steps)
            if fits(refined):
                return refined
    return plain[:k]


def _refine_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise DataError(f"refine_steps must be an integer >= 0, got {steps!r}")
    return steps


def _encode(model, x: np.ndarray, stages: int, refine_steps: int = 0) -> torch.Tensor:
    """The first ``stages`` stages' codes (k, L) of samples x: the encoder's nearest codes,
    or after ``refine_steps`` steps of analysis by synthesis (``audio_refine``)."""
    device = next(model.parameters()).device
    samples = torch.from_numpy(x).to(device)[None, None]
    return refine_codes(model, samples, stages, _refine_steps(refine_steps))


def compress_audio(
    model,
    audio,
    sample_rate: int | None = None,
    bitrate: float | None = None,
    stages: int | None = None,
    entropy_model: EntropyModel | None = None,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
    refine_steps: int = 0,
    normalize: bool = True,
) -> bytes:
    """Compress a mono waveform into ``.vqz`` bytes (format version 3).

    Args:
        model: an audio ``VQVAE``, a ``Codec``, a run dir or shipped name, or None for the
            shipped speech model (``speech``).
        audio: a sound file path (WAV, FLAC, ...: ``vqvae.data.read_audio``) or mono float
            samples (T,) in [-1, 1] (numpy or torch) at ``sample_rate``. Audio at another rate
            than the model's is resampled to it.
        sample_rate: the rate of an array (None: the model's); ignored for files.
        bitrate: a ceiling in bit/s on the file (its size x 8 / duration, header included):
            the most residual stages whose coded file fits; None: all of them (or
            ``stages``).
        stages: keep exactly the first ``stages`` stages (instead of ``bitrate``).
        entropy_model: overrides the codec's own probability model (a bare VQVAE without
            one is coded with uniform tables).
        max_seconds: refuse longer audio (None: no limit).
        refine_steps: choose the codes by analysis by synthesis, this many steps of a
            search for the codes whose decoded sound is closest to the input
            (``vqvae.codec.audio_refine``: better quality at the same rate, slower
            encoding: see the README's speech section for measured speeds); 0: the
            encoder's nearest codes.
        normalize: code the sound at the level the model codes it best, its own or lifted
            (``choose_gain_db``; the gain is stored and undone by the decoder), so every
            input level codes alike; False: code the samples as they are.

    Returns:
        The file's bytes.

    Raises:
        DataError: unreadable or unsuitable audio, an image model, a bitrate below one
            stage's rate.
    """
    model, entropy_model = _audio_model(model, entropy_model)
    x = _samples(audio, sample_rate, model, max_seconds)
    gain_db = _gain(model, x, normalize)
    indices = _choose_codes(model, x, gain_db, bitrate, stages, entropy_model, refine_steps)
    return pack_audio(model, indices, len(x), entropy_model, gain_db)


def pack_audio(
    model,
    indices: torch.Tensor,
    samples: int,
    entropy_model: EntropyModel | None = None,
    gain_db: float = 0.0,
) -> bytes:
    """The ``.vqz`` bytes of a code map: what ``compress_audio`` writes once it has the codes
    (e.g. the first k rows of one ``encode_audio_indices`` map, for several k).

    Args:
        model: an audio ``VQVAE`` or a ``Codec`` (None: the shipped speech model).
        indices: (k, L) int64, the first k stages' codes, L = ceil(samples / hop).
        samples: the sound's length in samples at the model's rate.
        entropy_model: overrides the codec's own (a bare VQVAE: uniform tables).
        gain_db: the gain the codes were made at (``choose_gain_db``), undone on decoding.
    """
    return _packer(model, samples, entropy_model, gain_db)(indices)


def _packer(model, samples: int, entropy_model, gain_db: float):
    """``pack_audio`` of one sound as a function of its codes: the model, its fingerprint and
    the entropy model resolved once (``--bitrate`` packs several stage counts)."""
    model, entropy_model = _audio_model(model, entropy_model)
    entropy_model = _choose_entropy(model, entropy_model)
    fingerprint = model_fingerprint(model)
    frames = -(-int(samples) // model.hop_length)

    def pack(indices: torch.Tensor) -> bytes:
        indices = torch.as_tensor(indices).detach().cpu().long()
        if indices.dim() != 2 or not 1 <= indices.shape[0] <= model.num_stages:
            raise ValueError(f"indices must be (k, L) with 1 <= k <= {model.num_stages}")
        if indices.shape[1] != frames:
            raise ValueError(
                f"{samples} samples make {frames} frames, the map has {indices.shape[1]}"
            )
        header = AudioHeader(
            model_fingerprint=fingerprint,
            entropy_name=entropy_model.name,
            entropy_fingerprint=entropy_model.fingerprint(),
            sample_rate=model.sample_rate,
            samples=int(samples),
            hop_length=model.hop_length,
            stages=int(indices.shape[0]),
            gain_db=float(gain_db),
        )
        return container.write(header, entropy.encode(indices, entropy_model))

    return pack


def read_audio_header(data: bytes) -> AudioHeader:
    """The header of an audio ``.vqz`` stream (a FormatError for an image file)."""
    header = container.parse(data)[0]
    if not isinstance(header, AudioHeader):
        raise FormatError(NOT_AUDIO)
    return header


def decompress_audio_indices(
    data: bytes,
    model=None,
    entropy_model: EntropyModel | None = None,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
) -> tuple[AudioHeader, torch.Tensor, object]:
    """Check an audio stream against the model and range-decode its codes.

    Returns:
        (header, indices (k, L) int64, the VQ-VAE that decodes them).

    Raises:
        FormatError: a damaged, foreign or image stream, one longer than ``max_seconds``,
            or one coded with an entropy model that was not given.
    """
    return read_stream(data, model, entropy_model, max_seconds=max_seconds, expect=AudioHeader)


@torch.no_grad()
def decode_stages(
    model,
    indices: torch.Tensor,
    samples: int,
    gain_db: float = 0.0,
    postfilter: float = SHARPENING,
) -> np.ndarray:
    """Waveform of a (k, L) code map with the model's first k stages: float32 (samples,),
    cropped, sharpened by the postfilter (``codec.postfilter``; exponent 1: off), kept within
    [-1, 1] (scaled down where the postfilter would push it past full scale, clipped where the
    decoder does), divided by the gain it was coded at and kept within full scale."""
    device = next(model.parameters()).device
    indices = indices.to(device)[None]  # (1, k, L)
    y = model.decode(indices if model.num_stages > 1 else indices[:, 0])  # (1, 1, L * hop)
    y = y[0, 0, :samples].clamp(-1, 1).float().cpu().numpy()
    y = apply_postfilter(y, model.sample_rate, postfilter)
    if not gain_db:
        return y
    return np.clip(y / np.float32(_amplitude(gain_db)), -1.0, 1.0)


def decompress_audio(
    data: bytes,
    model=None,
    entropy_model: EntropyModel | None = None,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
    postfilter: float = SHARPENING,
) -> tuple[np.ndarray, int]:
    """Decode audio ``.vqz`` bytes.

    Args:
        data: the bytes ``compress_audio`` wrote.
        model: the same VQ-VAE / Codec / run dir; None: the shipped model whose fingerprint
            the header carries.
        entropy_model: the probability model it was coded with, if ``model`` is a bare VQVAE.
        max_seconds: refuse (before decoding anything) a file longer than this (None: only
            the format's own limit).
        postfilter: the exponent of the decoder's spectral sharpening (``codec.postfilter``;
            default ``SHARPENING``, 1: the decoder's own output).

    Returns:
        (samples float32 (T,) in [-1, 1], sample rate in Hz).

    Raises:
        FormatError: a truncated, damaged, foreign or image stream, or one over the limit.
        ValueError: a postfilter exponent outside [1, ``postfilter.MAX_SHARPENING``].
    """
    postfilter = check_exponent(postfilter)
    header, indices, model = decompress_audio_indices(data, model, entropy_model, max_seconds)
    y = decode_stages(model, indices, header.samples, header.gain_db, postfilter)
    return y, header.sample_rate


def load_audio(run_dir=None, entropy: str | None = None, device: str = "cpu") -> Codec:
    """``codec.load`` for speech: None loads the shipped speech model."""
    return load(pretrained.for_audio() if run_dir is None else run_dir, entropy, device)

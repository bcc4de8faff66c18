"""One codec for every modality: ``compress(model, signal) -> bytes`` and
``decompress(data) -> image | (samples, rate)``.

::

    signal --model.signal.kind--> image: codec.image (PNG, JPEG, arrays; any size, in bands)
                                  audio: codec.audio (WAV, FLAC, samples; stages by bitrate)
    bytes --header kind--> the same two, after one stream check (``stream.read_stream``)

Options that apply to one modality only (``tile``, ``rd_lambda``, ``max_pixels`` for images;
``bitrate``, ``stages``, ``refine_steps``, ``sample_rate``, ``max_seconds`` for speech) are
refused, in one line, for the other.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import pretrained
from ..errors import DataError
from ..limits import MAX_AUDIO_SECONDS, MAX_PIXELS
from ..media.audio import AUDIO_EXTENSIONS
from . import audio, image
from .container import AudioHeader, Header
from .entropy import EntropyModel
from .loading import Codec, load, resolve
from .postfilter import SHARPENING
from .stream import read_header, read_stream

IMAGE_OPTIONS = ("rd_lambda", "tile")
AUDIO_OPTIONS = ("sample_rate", "bitrate", "stages", "refine_steps")
# each modality's size limit, ignored by the other (one call may code both kinds of file)
LIMITS = {"audio": "max_pixels", "image": "max_seconds"}


def modality_of(signal) -> str:
    """ "audio" for a sound file path or a 1-D sample array, else "image"."""
    if isinstance(signal, (str, os.PathLike)):
        return "audio" if Path(signal).suffix.lower() in AUDIO_EXTENSIONS else "image"
    if isinstance(signal, (np.ndarray, torch.Tensor)) and signal.ndim == 1:
        return "audio"
    return "image"


def _model_for(model, signal):
    """The model to code ``signal`` with: as given, or (None) the shipped one for its
    modality (the speech model for sound, the packaged MNIST model for images)."""
    if model is None and modality_of(signal) == "audio":
        return load(pretrained.for_audio())
    return model


def _refuse(options: dict, names: tuple[str, ...], modality: str) -> None:
    for name in names:
        value = options.get(name)
        if value is not None and value is not False and value != 0:
            other = "speech" if modality == "image" else "images"
            coded = "an image" if modality == "image" else "speech"
            flag = "--" + name.replace("_", "-")
            raise DataError(f"{flag} applies to {other}; the input is coded as {coded}")


def _route(model, signal, entropy_model, options: dict):
    """(VQVAE, entropy model) to code ``signal`` with, ``options`` checked in place: the other
    modality's size limit dropped, its options refused, a sound file refused by an image
    model."""
    model, entropy_model = resolve(_model_for(model, signal), entropy_model)
    options.pop(LIMITS[model.modality], None)
    if model.modality == "audio":
        _refuse(options, IMAGE_OPTIONS, "audio")
        return model, entropy_model
    _refuse(options, AUDIO_OPTIONS, "image")
    if modality_of(signal) == "audio" and isinstance(signal, (str, os.PathLike)):
        raise DataError(f"{signal}: a sound file, and this is an image model")
    return model, entropy_model


def compress(model, signal, entropy_model: EntropyModel | None = None, **options) -> bytes:
    """Compress an image or a sound into ``.vqz`` bytes with the model's modality.

    Args:
        model: a ``VQVAE`` (coded with ``entropy_model``, or uniform codes if None), a
            ``Codec``, a run dir or shipped model name, or None: the shipped speech model for
            a sound file or 1-D samples, else the packaged MNIST model.
        signal: for an image model, a PIL image, an image file path, a (C, H, W) tensor
            (uint8, or float in [0, 1]) or an (H, W[, C]) uint8 array; for a speech model,
            a sound file path or mono samples (T,) in [-1, 1].
        entropy_model: overrides the codec's own probability model.
        **options: images: ``rd_lambda``, ``tile``, ``max_pixels`` (``codec.image.
            compress_image``); speech: ``sample_rate``, ``bitrate``, ``stages``,
            ``max_seconds``, ``refine_steps`` (``codec.audio.compress_audio``).

    Returns:
        The file's bytes (header, range-coded indices, CRC-32).

    Raises:
        DataError: input the model cannot code, or an option of the other modality.
    """
    model, entropy_model = _route(model, signal, entropy_model, options)
    if model.modality == "audio":
        return audio.compress_audio(model, signal, entropy_model=entropy_model, **options)
    return image.compress_image(model, signal, entropy_model, **options)


def encode_indices(model, signal, entropy_model: EntropyModel | None = None, **options):
    """The code map ``compress`` (same arguments) writes: images ([S,] H', W'), speech
    (k, L), int64."""
    model, entropy_model = _route(model, signal, entropy_model, options)
    if model.modality == "audio":
        return audio.encode_audio_indices(model, signal, **options)
    return image.encode_indices(model, signal, entropy_model, **options)


def decompress_indices(
    data: bytes,
    model=None,
    entropy_model: EntropyModel | None = None,
    max_pixels: int | None = MAX_PIXELS,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
) -> tuple[Header | AudioHeader, torch.Tensor]:
    """Check a stream against its model and range-decode its code map: images (H', W')
    ((S, H', W') for S > 1 stages), speech (k, L); int64.

    Raises:
        FormatError: a damaged stream, one written with another model, coded with an
            entropy model that was not given, or over a size limit.
    """
    header, indices, _ = read_stream(data, model, entropy_model, max_pixels, max_seconds)
    return header, indices


@torch.no_grad()
def decompress(
    data: bytes,
    model=None,
    entropy_model: EntropyModel | None = None,
    max_pixels: int | None = MAX_PIXELS,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
    postfilter: float | None = None,
) -> Image.Image | tuple[np.ndarray, int]:
    """Decode ``.vqz`` bytes: an image file gives a PIL image ("L" or "RGB", the original
    size), a speech file ``(samples float32 (T,) in [-1, 1], sample rate)``.

    Args:
        data: the bytes ``compress`` wrote.
        model: the VQ-VAE / Codec / run dir / shipped name that wrote it; None: the shipped
            model whose fingerprint the header carries.
        entropy_model: the probability model it was coded with, if ``model`` is a bare VQVAE.
        max_pixels: refuse (before decoding anything) an image larger than this many pixels
            (default 64 megapixels; None: only the format's own limit).
        max_seconds: likewise for sound (default ``vqvae.limits.MAX_AUDIO_SECONDS``).
        postfilter: sound only: the exponent of the decoder's spectral sharpening
            (``codec.postfilter``; None: its default, 1: off).

    Raises:
        FormatError: a truncated, damaged, foreign or unsupported stream, or one over a limit.
        ValueError: a postfilter for an image, or an exponent out of range.
    """
    if isinstance(read_header(data), AudioHeader):
        exponent = SHARPENING if postfilter is None else postfilter
        return audio.decompress_audio(data, model, entropy_model, max_seconds, exponent)
    if postfilter is not None:
        raise ValueError("postfilter is an option for sound; this is an image file")
    return image.decompress_image(data, model, entropy_model, max_pixels)


__all__ = [
    "Codec",
    "compress",
    "decompress",
    "decompress_indices",
    "encode_indices",
    "modality_of",
]

"""Reading a ``.vqz`` stream, for images and speech alike: parse the container, check its
claimed size against the limits, find and check the model (fingerprint, modality, shape
figures) and the entropy model, then range-decode the code map.

    bytes --container.parse (magic, version, size, crc)--> header, payload
          --size limits (pixels / seconds), before anything of that size exists-->
          --model: given, or by fingerprint (load_for); entropy model by name + fingerprint-->
          --range decoder--> indices: image ([S,] H', W'), audio (k, L)
"""

from __future__ import annotations

import os

from ..limits import check_audio_seconds, check_max_pixels, check_pixels
from . import container, entropy
from .container import AudioHeader, FormatError, Header
from .entropy import EntropyModel
from .loading import WRITER_HINT, Codec, load_for, model_fingerprint, resolve

NOT_AN_IMAGE = (
    "an audio file, not an image: decode it with decompress_audio (vqvae decompress -o OUT.wav)"
)
NOT_AUDIO = "an image file, not audio: decode it with vqvae decompress -o OUT.png"


def read_header(data: bytes) -> Header | AudioHeader:
    """The header of a ``.vqz`` stream (after magic, version, size and CRC checks): a
    ``Header`` for an image, an ``AudioHeader`` for audio."""
    return container.parse(data)[0]


def check_size(
    header: Header | AudioHeader, max_pixels: int | None, max_seconds: float | None
) -> None:
    """FormatError if the image or sound a header claims is over the limit (None: none)."""
    if isinstance(header, AudioHeader):
        check_audio_seconds(
            header.samples, header.sample_rate, max_seconds, "the audio", FormatError
        )
    else:
        check_pixels(header.width, header.height, max_pixels, "the image", FormatError)


def read_stream(
    data: bytes,
    model,
    entropy_model: EntropyModel | None = None,
    max_pixels: int | None = None,
    max_seconds: float | None = None,
    expect: type | None = None,
):
    """Check a stream against its model and range-decode its codes.

    Args:
        data: ``.vqz`` bytes.
        model: a ``VQVAE``, ``Codec``, run dir or shipped name; None: the shipped model whose
            fingerprint the header carries.
        entropy_model: the probability model it was coded with, if ``model`` is a bare VQVAE.
        max_pixels, max_seconds: refuse a stream that claims more (None: no limit).
        expect: ``Header`` or ``AudioHeader`` to refuse the other kind; None takes both.

    Returns:
        (header, indices int64: image ([S,] H', W'), audio (k, L), the VQ-VAE that decodes
        them).

    Raises:
        FormatError: a damaged or foreign stream, one over a limit, one written with
            another model or coded with an entropy model that was not given.
    """
    check_max_pixels(max_pixels)
    header, payload = container.parse(data)
    if expect is Header and not isinstance(header, Header):
        raise FormatError(NOT_AN_IMAGE)
    if expect is AudioHeader and not isinstance(header, AudioHeader):
        raise FormatError(NOT_AUDIO)
    check_size(header, max_pixels, max_seconds)
    model, entropy_model = _codec_for(header, model, entropy_model)
    _check_model(header, model)
    entropy_model = _check_entropy(header, model, entropy_model)
    stages = header.stages
    h, w = header.code_shape
    shape = (stages * h, w) if isinstance(header, Header) else (h, w)
    try:
        indices = entropy.decode(payload, shape, entropy_model)
    except entropy.CodingError as exc:
        raise FormatError(f"corrupt payload: {exc}") from None
    except Exception as exc:  # constriction rejects impossible states with its own errors
        raise FormatError(f"corrupt payload ({type(exc).__name__}: {exc})") from None
    if isinstance(header, Header) and stages > 1:
        indices = indices.reshape(stages, h, w)
    return header, indices, model


def _codec_for(header, model, entropy_model):
    """(VQVAE, entropy model or None) that decode a stream with this header."""
    name = header.entropy_name
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_for(header, model)  # the run dir's model of that name
    elif isinstance(model, Codec) and entropy_model is None and model.entropy_model.name != name:
        if model.run_dir is not None:
            model = load_for(header, model.run_dir)  # e.g. a uniform file given a static codec
        elif name == entropy.UniformEntropyModel.name:
            model = Codec(model.model, entropy.UniformEntropyModel(model.entropy_model.num_symbols))
    return resolve(model, entropy_model)


def _check_model(header, model) -> None:
    if header.model_fingerprint != model_fingerprint(model):
        raise FormatError(
            f"written with another model (fingerprint {header.model_fingerprint.hex()}, "
            f"this model's is {model_fingerprint(model).hex()}): {WRITER_HINT}"
        )
    if isinstance(header, AudioHeader):
        if model.modality != "audio":
            raise FormatError("an audio file given an image model")
        if (
            header.sample_rate != model.sample_rate
            or header.hop_length != model.hop_length
            or header.stages > model.num_stages
        ):
            raise FormatError("header does not match the model's rate, hop length or stages")
    elif header.downsample_factor != model.downsample_factor or header.stages != model.num_stages:
        raise FormatError("header does not match the model's downsampling or stages")


def _check_entropy(header, model, entropy_model: EntropyModel | None) -> EntropyModel:
    name = header.entropy_name
    if entropy_model is None and name == entropy.UniformEntropyModel.name:
        entropy_model = entropy.UniformEntropyModel(model.quantizer.codebook_size)
    if entropy_model is None or entropy_model.name != name:
        raise FormatError(f"coded with entropy model {name!r}, which was not given")
    if entropy_model.fingerprint() != header.entropy_fingerprint:
        raise FormatError(f"coded with another {name!r} entropy model (fingerprint mismatch)")
    return entropy_model

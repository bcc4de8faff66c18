"""Image and speech compression with a VQ-VAE: indices -> entropy coder -> ``.vqz`` bytes, and
back.

``compress(model, signal, **options) -> bytes`` takes an image for an image model and a sound
for a speech model; ``decompress(data, model=None)`` reads the header and returns a PIL image
or ``(samples, rate)``, finding the shipped model by its fingerprint when none is given
(``api``). ``compress_image`` / ``compress_audio`` and friends are the per-modality halves
(``image``, ``audio``); ``stream`` checks a stream for both; the file format is in
``container`` (and docs/format.md), the probability-model interface that static
distributions and autoregressive priors share is in ``entropy``.
"""

from .api import compress, decompress, decompress_indices, encode_indices, modality_of
from .audio import (
    compress_audio,
    decompress_audio,
    decompress_audio_indices,
    encode_audio_indices,
    pack_audio,
    read_audio_header,
    stages_for_bitrate,
)
from .container import FORMAT_VERSION, AudioHeader, FormatError, Header
from .entropy import (
    PRECISION,
    EntropyModel,
    ProbabilityModel,
    StaticEntropyModel,
    UniformEntropyModel,
    check_consistency,
    information_bits,
    quantize_pmf,
    raster_schedule,
    register_entropy_model,
)
from .image import compress_image, decompress_image, decompress_image_indices
from .loading import PRETRAINED_MNIST, Codec, load, load_for, model_fingerprint
from .stream import read_header, read_stream

__all__ = [
    "FORMAT_VERSION",
    "AudioHeader",
    "PRECISION",
    "PRETRAINED_MNIST",
    "Codec",
    "EntropyModel",
    "FormatError",
    "Header",
    "ProbabilityModel",
    "StaticEntropyModel",
    "UniformEntropyModel",
    "check_consistency",
    "compress",
    "compress_audio",
    "compress_image",
    "decompress",
    "decompress_audio",
    "decompress_audio_indices",
    "decompress_image",
    "decompress_image_indices",
    "decompress_indices",
    "encode_audio_indices",
    "encode_indices",
    "information_bits",
    "load",
    "load_for",
    "modality_of",
    "model_fingerprint",
    "pack_audio",
    "quantize_pmf",
    "raster_schedule",
    "read_audio_header",
    "read_header",
    "read_stream",
    "register_entropy_model",
    "stages_for_bitrate",
]

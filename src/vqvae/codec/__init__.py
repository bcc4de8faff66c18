"""Image and speech compression with a VQ-VAE: indices -> entropy coder -> ``.vqz`` bytes, and
back.

``compress(model, image) -> bytes`` and ``decompress(data, model) -> PIL.Image``;
``compress_audio(model, samples_or_path, bitrate=...)`` and ``decompress_audio(data) ->
(samples, rate)`` for speech (``codec.audio``); the file
format is in ``container`` (and docs/format.md), the probability-model interface that static
distributions and autoregressive priors share is in ``entropy``.
"""

from .api import (
    PRETRAINED_MNIST,
    Codec,
    compress,
    decompress,
    decompress_indices,
    encode_indices,
    load,
    load_for,
    model_fingerprint,
    read_header,
)
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
    "decompress",
    "decompress_audio",
    "decompress_audio_indices",
    "decompress_indices",
    "encode_audio_indices",
    "encode_indices",
    "information_bits",
    "load",
    "load_for",
    "model_fingerprint",
    "pack_audio",
    "quantize_pmf",
    "raster_schedule",
    "read_audio_header",
    "read_header",
    "register_entropy_model",
    "stages_for_bitrate",
]

"""Reading and writing media files: images (``image``: Pillow, uint8 tensors) and sound
(``audio``: libsndfile, mono float32). A leaf: it knows no datasets, models or codecs, so the
data, codec and CLI layers can all read and write files the same way."""

from .audio import (
    AUDIO_EXTENSIONS,
    read_audio,
    resample,
    sample_rate_of,
    write_audio,
)
from .image import (
    DECODE_ERRORS,
    IMAGE_EXTENSIONS,
    infer_channels,
    load_image,
    open_image,
    save_image,
    to_8bit,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "DECODE_ERRORS",
    "IMAGE_EXTENSIONS",
    "infer_channels",
    "load_image",
    "open_image",
    "read_audio",
    "resample",
    "sample_rate_of",
    "save_image",
    "to_8bit",
    "write_audio",
]

"""Size limits on untrusted input: images and ``.vqz`` files are checked from their headers,
before anything proportional to the size they claim is allocated."""

from __future__ import annotations

from .errors import VQVAEError

MAX_PIXELS = 64_000_000
"""Default largest image (width x height) that ``compress`` reads and ``decompress`` writes:
64 megapixels, e.g. 8000 x 8000. Raise it with ``--max-pixels N`` / ``max_pixels=N``."""


def check_pixels(
    width: int,
    height: int,
    max_pixels: int | None,
    what: str,
    error: type[VQVAEError] = VQVAEError,
) -> None:
    """Raise ``error`` if a ``width x height`` image is over ``max_pixels`` (None: no limit).

    Args:
        width, height: the size the header claims.
        max_pixels: the limit; None disables the check.
        what: names the input in the message, e.g. the file's path.
        error: the exception class to raise.
    """
    if max_pixels is not None and width * height > max_pixels:
        raise error(
            f"{what} is {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} (raise it with --max-pixels N)"
        )


def check_max_pixels(max_pixels: int | None) -> None:
    """Raise VQVAEError unless ``max_pixels`` is None or a positive integer."""
    if max_pixels is not None and (
        isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1
    ):
        raise VQVAEError(f"max_pixels must be a positive integer, got {max_pixels!r}")


MAX_AUDIO_SECONDS = 600.0
"""Default longest audio file (seconds) that ``read_audio`` reads and ``decompress`` writes:
10 minutes, checked from the header before the samples are read (at 8 kHz: 4.8 M samples)."""


def check_audio_seconds(
    frames: int,
    rate: int,
    max_seconds: float | None,
    what: str,
    error: type[VQVAEError] = VQVAEError,
) -> None:
    """Raise ``error`` if ``frames`` samples at ``rate`` Hz last over ``max_seconds`` (None: no limit)."""
    if max_seconds is not None and frames > max_seconds * rate:
        raise error(
            f"{what} is {frames / rate:.1f} s long, over the limit of {max_seconds:g} s "
            f"(raise it with --max-seconds N)"
        )


MAX_VQZ_BYTES = 256 << 20
"""Largest ``.vqz`` file ``decompress`` reads (256 MiB), checked from its size before it is
read; a 64-megapixel image costs a few MB even at several bits per pixel."""


MAX_REFINE_STEPS = 500
"""Most analysis-by-synthesis steps ``compress --refine-steps`` takes: 50 steps take about
twice the sound's length on one thread, so 500 steps cost ~20x (a 10-minute file: about
3 hours); 10 000 would run for days at ``MAX_AUDIO_SECONDS``."""

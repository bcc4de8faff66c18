"""Giving freed memory back to the system between the bands of a large image.

glibc's malloc keeps freed blocks of a few to a few tens of MB in its heaps (one per thread)
for reuse; bands and chunks of slightly different sizes then leave holes it does not reuse,
and the process grows by hundreds of MB over a large image though it never holds more than
a band. ``release`` hands the free pages back (``malloc_trim(0)``: a few milliseconds); it
does nothing where the C library has no such call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release() -> None:
    """Return the memory freed so far to the system (glibc; elsewhere nothing)."""
    trim = _trim()
    if trim is not None:
        trim(0)

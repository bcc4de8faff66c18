"""Progress of long steps, on stderr: a bar on a terminal, one line per ~10% otherwise.

Nothing is shown for a step that ends within ``DELAY`` seconds, nor at all when quiet
(``set_quiet(True)``: the CLI's ``--quiet``, or ``VQVAE_QUIET=1`` in the environment).
Library loops that can take long (evaluation, dataset encoding, code counting, prior
training, sampling, entropy coding of large maps) report through ``track`` / ``Progress``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm import tqdm

DELAY = 2.0
"""Seconds before anything is shown: short steps stay silent."""

T = TypeVar("T")
_quiet = os.environ.get("VQVAE_QUIET", "") not in ("", "0")


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress display of this process."""
    global _quiet
    _quiet = bool(quiet)


def is_quiet() -> bool:
    return _quiet


class Progress:
    """Progress of ``total`` units of work named ``desc``.

    On a terminal a tqdm bar (shown after ``DELAY`` s, removed when done); elsewhere (a log
    file, a pipe) one line each time another tenth of the work is done, after ``DELAY`` s.
    """

    def __init__(self, total: int | None, desc: str, unit: str = "it", enabled: bool = True):
        self.total, self.desc, self.unit = total, desc, unit
        self.enabled = enabled and not _quiet
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.tenths_shown = 0
        self.bar = None
        if self.enabled and _isatty(sys.stderr):
            self.bar = tqdm(
                total=total, desc=desc, unit=unit, delay=DELAY, leave=False, file=sys.stderr
            )

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and self.total:
            tenths = min(10, self.n * 10 // self.total)
            if tenths > self.tenths_shown and time.perf_counter() - self.started >= DELAY:
                self.tenths_shown = tenths
                self._line()

    def goto(self, n: int) -> None:
        """Set the work done to ``n`` (for progress measured otherwise than by counting)."""
        if n > self.n:
            self.update(n - self.n)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = values
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def _line(self) -> None:
        elapsed = time.perf_counter() - self.started
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        print(
            f"{self.desc}: {100 * self.n // self.total}% ({self.n}/{self.total} {self.unit}, "
            f"{elapsed:.0f} s{extra})",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(
    items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it"
) -> Iterator[T]:
    """Iterate over ``items`` while showing progress (``total`` defaults to ``len(items)``)."""
    if total is None:
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit) as progress:
        for item in items:
            yield item
            progress.update()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

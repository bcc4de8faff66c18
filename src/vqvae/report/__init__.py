"""``vqvae report``: one self-contained HTML page about a run or a shipped model (training
curves, the codebook, reconstructions and rate-distortion against JPEG/WebP or speech at
several bit rates), with hand-made SVG charts (``svg``) and media inlined (``embed``).

``build_report`` is loaded on first use, so ``vqvae.report.svg`` (the charts, also drawn by
the benchmarks) imports nothing heavy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import build_report

__all__ = ["build_report"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from .build import build_report

        return build_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""``vqvae report``: one self-contained HTML page about a run or a shipped model (training
curves, the codebook, reconstructions and rate-distortion against JPEG/WebP or speech at
several bit rates), with hand-made SVG charts (``svg``) and media inlined (``embed``)."""

from .build import build_report

__all__ = ["build_report"]

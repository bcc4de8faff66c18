"""Toy context models for the entropy-coder tests (not tests themselves)."""

import numpy as np
import torch

from vqvae.codec import ProbabilityModel, raster_schedule


class LeftNeighbour(ProbabilityModel):
    """Code p is probably the code at p-1 (raster order): weight 1 there, 0.02 elsewhere; one
    position per block."""

    name = "left-neighbour"
    num_symbols = 8

    def fingerprint(self) -> bytes:
        return b"toy-ctx1"

    def schedule(self, shape):
        return raster_schedule(shape, 1)

    def context(self, p: int, shape) -> int | None:
        """The position whose code is predicted at ``p`` (None: uniform)."""
        return p - 1 if p > 0 else None

    def probabilities(self, indices, positions):
        flat = indices.flatten()
        probs = torch.full((len(positions), self.num_symbols), 0.02, dtype=torch.float64)
        for row, p in enumerate(positions):
            source = self.context(int(p), tuple(indices.shape))
            if source is not None:
                probs[row, flat[source]] = 1.0
        return probs


class Cheater(LeftNeighbour):
    """Breaks the contract: looks at the code it is predicting."""

    name = "cheater"

    def context(self, p, shape):
        return p


class Column(LeftNeighbour):
    """A non-raster schedule: whole columns, each code predicted from its left neighbour."""

    name = "column"

    def fingerprint(self) -> bytes:
        return b"toy-col1"

    def schedule(self, shape):
        h, w = shape
        return [np.arange(h) * w + col for col in range(w)]

    def context(self, p, shape):
        return p - 1 if p % shape[1] else None

"""Which images each step trains on: seeded per-epoch permutations, split across ranks."""

from __future__ import annotations

import torch

from ..errors import VQVAEError


def _seed64(value: int) -> int:
    """``value`` as a seed torch accepts (a signed 64-bit integer): unchanged when it is one,
    else reduced modulo 2**63, so any ``--seed`` runs and the seeds that ran before give the
    same batches."""
    return value if -(2**63) <= value < 2**63 else value % 2**63


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order in which epoch ``epoch`` visits the ``n`` training images."""
    generator = torch.Generator().manual_seed(_seed64(seed * 7919 + epoch))
    return torch.randperm(n, generator=generator)


def batch_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    """The generator of batch ``batch``'s random draws (crops, noise) in ``epoch``."""
    return torch.Generator().manual_seed(_seed64((seed * 1_000_003 + epoch) * 1_000_003 + batch))


class DistributedBatchSampler:
    """Global batches of a seeded per-epoch permutation, each split evenly across the ranks.

    Batch ``b`` of epoch ``e`` is the images ``perm_e[b*B : (b+1)*B]`` (``B`` the global batch,
    the ragged end of the epoch dropped); rank ``r`` of ``W`` trains on its rows
    ``[r*B/W, (r+1)*B/W)``. The order depends on (seed, epoch, b) only, never on the rank
    count or on the global RNG, so a run resumed at (epoch, b), with any number of ranks, sees
    the batches the uninterrupted run would have, and W ranks with B/W images each see the
    same global batch as one process with B.

    Args:
        num_images: size of the training set.
        batch_size: the global batch B (capped at ``num_images``).
        seed: the run's seed.
        rank, world_size: this process's place in the group.
    """

    def __init__(
        self, num_images: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if num_images < 1:
            raise VQVAEError("the training set is empty")
        self.num_images = num_images
        self.batch_size = min(batch_size, num_images)
        if self.batch_size % world_size:
            raise VQVAEError(
                f"--batch-size {self.batch_size} is the global batch and must split evenly "
                f"across {world_size} processes"
            )
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.local_batch_size = self.batch_size // world_size
        self._perm: tuple[int, torch.Tensor] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.num_images // self.batch_size

    def indices(self, epoch: int, batch: int) -> torch.Tensor:
        """The global batch ``batch`` of ``epoch``: int64 (B,) dataset indices."""
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, epoch_permutation(self.num_images, self.seed, epoch))
        return self._perm[1][batch * self.batch_size : (batch + 1) * self.batch_size]

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch ``x`` (B, ...) -> (B / W, ...)."""
        start = self.rank * self.local_batch_size
        return x[start : start + self.local_batch_size]

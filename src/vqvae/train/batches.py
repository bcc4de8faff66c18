"""Where each training step's images come from: an in-RAM dataset, or a streamed folder or
tar shards decoded by ``torch.utils.data`` worker processes.

The loop asks a batch source for the batches of an epoch from a given position
(``epoch(epoch, start)``) and for this rank's rows of what it yields (``shard``); the order
is a function of (seed, epoch, batch), so a resumed run replays the batches an
uninterrupted one would have.

- In RAM (``InMemoryBatches``): the whole global batch is gathered, and ``shard`` takes this
  rank's rows (``DistributedBatchSampler``).
- A streamed folder (``StreamedBatches`` over ``FolderPlan``): the same global batches as in
  RAM (a seeded permutation of the files, random crops drawn for the whole global batch), but
  each rank decodes only its own rows, so the batches do not depend on the number of ranks
  or of loader workers; a folder of same-size images gives bit-identical batches either way.
- Tar shards (``StreamedBatches`` over ``ShardPlan``): each epoch shuffles the shards and
  deals them to the ranks (rank r reads shards r, r+W, ... of the epoch's order), and each
  rank reads its shards as ``STREAMS`` sequential streams whose batches alternate, so shards
  are read front to back, never seeked. The order depends on the number of ranks, not on the
  number of workers.
"""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .. import dist
from ..config import DataConfig
from ..data import ImageDataset
from ..data.streamed import StreamedImages, default_workers, load_images
from ..errors import DataError, VQVAEError
from .sampler import DistributedBatchSampler, batch_generator, epoch_permutation

STREAMS = 12
"""Sequential streams per rank over tar shards (a --workers that divides it reads each once)."""


def load_splits(
    data: DataConfig, warn: Callable[[str], None] | None = None
) -> tuple[ImageDataset | StreamedImages, ImageDataset | StreamedImages]:
    """The training and evaluation datasets named by ``data`` (``data.data_loading``: in RAM
    or streamed, see ``load_images``; the evaluation split is center-cropped)."""
    common = {"loading": data.data_loading, "warn": warn}
    train = load_images(
        data.dataset, "train", data.data_dir, data.download, random_crop=data.random_crop,
        **common,
    )  # fmt: skip
    if isinstance(train, StreamedImages):
        common["loading"] = "stream"  # the test split of a streamed folder streams too
    test = load_images(
        data.dataset, "test", data.data_dir, data.download, center_crop=data.random_crop,
        **common,
    )  # fmt: skip
    if isinstance(train, StreamedImages) and isinstance(test, StreamedImages):
        if test.source == train.source:
            test.skipped = train.skipped  # one warning per file, whichever split meets it
    if data.train_subset:
        train = train.subset(data.train_subset)
    if data.eval_subset:
        test = test.subset(data.eval_subset)
    return train, test


def batch_source(
    dataset: ImageDataset | StreamedImages,
    data: DataConfig,
    batch_size: int,
    seed: int,
    device: torch.device,
    warn: Callable[[str], None] | None = None,
) -> InMemoryBatches | StreamedBatches:
    """The batch source of ``dataset`` for this process's rank."""
    rank, world = dist.rank(), dist.world_size()
    if not isinstance(dataset, StreamedImages):  # in RAM: anything with batch(idx, generator)
        sampler = DistributedBatchSampler(len(dataset), batch_size, seed, rank, world)
        return InMemoryBatches(dataset, sampler, seed)
    if dataset.kind == "folder":
        sampler = DistributedBatchSampler(len(dataset), batch_size, seed, rank, world)
        plan: FolderPlan | ShardPlan = FolderPlan(dataset, sampler, seed)
    else:
        plan = ShardPlan(dataset, batch_size, seed, rank, world)
    workers = default_workers() if data.workers is None else data.workers
    if warn is not None:
        dataset.warn = warn
    return StreamedBatches(plan, workers, pin_memory=device.type == "cuda")


class InMemoryBatches:
    """Global batches gathered from an in-RAM dataset (``ImageDataset`` or any other with
    ``batch(idx, generator)``); ``shard`` takes this rank's rows."""

    def __init__(self, dataset: ImageDataset, sampler: DistributedBatchSampler, seed: int):
        self.dataset, self.sampler, self.seed = dataset, sampler, seed
        self.batches_per_epoch = sampler.batches_per_epoch
        self.batch_size, self.local_batch_size = sampler.batch_size, sampler.local_batch_size

    def epoch(self, epoch: int, start: int) -> Iterator[torch.Tensor]:
        """Global batches ``start, start + 1, ...`` of ``epoch``: float (B, C, h, w)."""
        for b in range(start, self.batches_per_epoch):
            idx = self.sampler.indices(epoch, b)
            yield self.dataset.batch(idx, batch_generator(self.seed, epoch, b))

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        return self.sampler.shard(x)


class FolderPlan(Dataset):
    """Item (epoch, b): this rank's rows of global batch b of a streamed folder."""

    def __init__(self, data: StreamedImages, sampler: DistributedBatchSampler, seed: int):
        self.data, self.sampler, self.seed = data, sampler, seed
        self.batches_per_epoch = sampler.batches_per_epoch
        self.batch_size, self.local_batch_size = sampler.batch_size, sampler.local_batch_size
        start = sampler.rank * sampler.local_batch_size
        self.rows = slice(start, start + sampler.local_batch_size)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __getitem__(self, key: tuple[int, int]):
        epoch, b = key
        idx = self.sampler.indices(epoch, b).tolist()
        generator = batch_generator(self.seed, epoch, b)
        return _guarded(lambda: self.data.read(idx, generator, self.rows))


class ShardPlan(Dataset):
    """Item (epoch, b): batch b of this rank's shards in ``epoch``.

    Rank r's shards in an epoch are r, r+W, ... of a seeded permutation; their images, in
    order, are cut into batches of B/W, which are split into ``STREAMS`` contiguous runs
    visited in turn (batch b comes from run b % STREAMS). Every rank trains the same number
    of batches per epoch: as many as the rank with the fewest images could have (the ragged
    end of each rank's images is dropped).
    """

    def __init__(self, data: StreamedImages, batch_size: int, seed: int, rank: int, world: int):
        self.data, self.seed, self.rank, self.world = data, seed, rank, world
        counts = data.shard_counts
        if len(counts) < world:
            raise VQVAEError(
                f"{data.name} has {len(counts)} shards, fewer than the {world} processes "
                "(each process reads whole shards)"
            )
        if batch_size % world:
            raise VQVAEError(
                f"--batch-size {batch_size} is the global batch and must split evenly across "
                f"{world} processes"
            )
        fewest = int(np.sort(counts)[: len(counts) // world].sum())  # images of the poorest rank
        self.local_batch_size = min(batch_size // world, max(fewest, 1))
        self.batch_size = self.local_batch_size * world
        self.batches_per_epoch = fewest // self.local_batch_size
        if self.batches_per_epoch == 0:
            raise VQVAEError(f"{data.name} holds no images for {world} processes")
        per_stream = math.ceil(self.batches_per_epoch / STREAMS)
        self.stream_length = per_stream
        # Batch b -> chunk of the rank's images: stream k holds chunks [k*L, (k+1)*L).
        self.order = [
            k * per_stream + m
            for m in range(per_stream)
            for k in range(STREAMS)
            if k * per_stream + m < self.batches_per_epoch
        ]
        self._epoch: tuple[int, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.batches_per_epoch

    def shards_of(self, epoch: int) -> np.ndarray:
        """This rank's shards in ``epoch``, in reading order."""
        perm = epoch_permutation(len(self.data.shard_counts), self.seed, epoch).numpy()
        return perm[self.rank :: self.world]

    def positions(self, epoch: int, b: int) -> list[int]:
        """Dataset positions of batch ``b`` of ``epoch`` on this rank."""
        if self._epoch is None or self._epoch[0] != epoch:
            mine = self.shards_of(epoch)
            sizes = self.data.shard_counts[mine]
            self._epoch = (epoch, mine, np.concatenate([[0], np.cumsum(sizes)]))
        _, mine, starts = self._epoch
        chunk = self.order[b]
        out = []
        for p in range(chunk * self.local_batch_size, (chunk + 1) * self.local_batch_size):
            i = int(np.searchsorted(starts, p, side="right")) - 1
            out.append(int(self.data.starts[mine[i]]) + p - int(starts[i]))
        return out

    def __getitem__(self, key: tuple[int, int]):
        epoch, b = key
        positions = self.positions(epoch, b)
        generator = batch_generator(self.seed, epoch, b * self.world + self.rank)
        stream = self.order[b] // self.stream_length
        return _guarded(lambda: self.data.read(positions, generator, stream=stream))


def _guarded(read):
    """(uint8 images, skipped, error): a DataError travels back as text, so the main process
    raises it as one line (a worker's exception would arrive wrapped in a traceback)."""
    try:
        result = read()
    except DataError as exc:
        return None, [], str(exc)
    return result.x, result.skipped, None


def _worker_init(worker_id: int) -> None:
    # Ctrl-C (and a scheduler's SIGTERM) may reach the whole process group: the trainer
    # finishes its step, checkpoints, then stops the workers itself (a worker killed first
    # would make the DataLoader raise). Workers of a trainer that died exit on their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class _Keys:
    """The DataLoader's sampler: the (epoch, batch) keys of the epoch being read."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int]] = []

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class StreamedBatches:
    """This rank's batches of a streamed dataset, decoded by ``workers`` loader processes
    (0: in this process); ``shard`` is the identity (the rows are this rank's already)."""

    def __init__(self, plan: FolderPlan | ShardPlan, workers: int, pin_memory: bool = False):
        self.plan, self.data = plan, plan.data
        self.workers, self.pin_memory = workers, pin_memory
        self.batches_per_epoch = plan.batches_per_epoch
        self.batch_size, self.local_batch_size = plan.batch_size, plan.local_batch_size
        self.keys = _Keys()
        self.loader: DataLoader | None = None

    def epoch(self, epoch: int, start: int) -> Iterator[torch.Tensor]:
        """This rank's batches ``start, start + 1, ...`` of ``epoch``: float (b, C, h, w)."""
        if start >= self.batches_per_epoch:
            return
        self.keys.items = [(epoch, b) for b in range(start, self.batches_per_epoch)]
        if self.loader is None:  # one loader, its workers kept from epoch to epoch
            self.loader = DataLoader(
                self.plan,
                batch_size=None,
                sampler=self.keys,  # read in this process at each epoch's start
                num_workers=self.workers,
                pin_memory=self.pin_memory,
                worker_init_fn=_worker_init if self.workers else None,
                prefetch_factor=2 if self.workers else None,
                persistent_workers=self.workers > 0,
                # The workers' base seed comes from here, not from the global RNG (which
                # code restarts draw from: it must advance as in an in-RAM run).
                generator=torch.Generator().manual_seed(0),
            )
        loader = self.loader
        skipped = 0
        try:
            for x, lost, error in loader:
                if error is not None:
                    raise DataError(error)
                skipped += len(lost)
                self.data.note_skipped(lost)
                if len(x) == 0:  # every image of the batch unreadable: the first readable one
                    generator = torch.Generator().manual_seed(0)
                    x = self.data.read([self.data.first_position], generator).x
                yield x.float().div_(255)
        finally:
            if skipped:
                self.data.warn(
                    f"warning: {skipped} unreadable images skipped in epoch {epoch + 1} "
                    f"({len(self.data.skipped)} different files so far)"
                )

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        return x


def rank_warn(message: str) -> None:
    """A warning line on stderr, naming the rank under DDP."""
    prefix = f"rank {dist.rank()}: " if dist.world_size() > 1 else ""
    print(prefix + message, file=sys.stderr, flush=True)


__all__ = [
    "STREAMS", "FolderPlan", "InMemoryBatches", "ShardPlan", "StreamedBatches", "batch_source",
    "load_splits", "rank_warn",
]  # fmt: skip

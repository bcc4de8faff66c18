"""Thin wrappers over torch.distributed that are no-ops in a single process.

Model code (the quantizers) uses these to keep every rank's codebook bit-identical under DDP
without knowing whether a process group exists; the training loop uses them to agree on
when to stop. Setting the process group up is the training entry point's job
(``vqvae.train.distributed``).
"""

from __future__ import annotations

import torch
import torch.distributed as torch_dist


def is_distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def rank() -> int:
    return torch_dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return torch_dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        torch_dist.barrier()


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks, in place (every rank receives the same bits)."""
    if is_distributed():
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
    return tensor


def broadcast_(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite ``tensor`` on every rank with rank ``src``'s value, in place."""
    if is_distributed():
        torch_dist.broadcast(tensor, src=src)
    return tensor


def any_rank(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank if ``flag`` is true on any rank (a collective: call it on all ranks)."""
    if not is_distributed():
        return flag
    vote = torch.tensor([float(flag)], device=device)
    return bool(all_reduce_sum_(vote).item() > 0)


def row_counts(n_local: int, device: torch.device | str = "cpu") -> list[int]:
    """Every rank's ``n_local``, in rank order (``[n_local]`` in a single process)."""
    if not is_distributed():
        return [n_local]
    sizes = torch.zeros(world_size(), dtype=torch.long, device=device)
    sizes[rank()] = n_local
    return [int(s) for s in all_reduce_sum_(sizes).tolist()]


def all_gather_rows(local: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``local`` (N_r, ...) along dim 0, in rank order, on every rank.

    Ranks may hold different N_r; the other dimensions must agree.
    """
    if not is_distributed():
        return local
    sizes = row_counts(local.shape[0], local.device)
    padded = local.new_zeros((max(sizes), *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in sizes]
    torch_dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)])


def gather_rows(local: torch.Tensor, rows: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Rows ``rows`` of the rank-ordered concatenation of every rank's ``local``, on every rank.

    Equals ``all_gather_rows(local)[rows]`` but moves only the selected rows: each rank fills
    the rows it owns, zeros elsewhere, and a sum over ranks assembles them exactly (x + 0 = x).

    Args:
        local: (N_r, D) this rank's rows.
        rows: (M,) int64 indices into the concatenation; identical on every rank.
        sizes: every rank's N_r, from ``row_counts``.
    """
    if not is_distributed():
        return local[rows]
    start = sum(sizes[: rank()])
    mine = (rows >= start) & (rows < start + local.shape[0])
    out = local.new_zeros((rows.shape[0], *local.shape[1:]))
    out[mine] = local[rows[mine] - start]
    return all_reduce_sum_(out)

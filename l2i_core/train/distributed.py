"""More than one process: PyTorch's own distributed engine, and nothing home-made.

Under ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``), :func:`init_distributed` starts the process group from the environment — gloo on
CPU, NCCL on CUDA — and every training recipe then runs through
:class:`~torch.nn.parallel.DistributedDataParallel` inside :class:`~l2i_core.train.engine.Engine`:

* the trained module only is wrapped (the frozen f is never), with its gradients averaged by DDP;
* each epoch's order comes from :class:`~torch.utils.data.DistributedSampler` (``set_epoch`` every
  epoch), so the ranks see disjoint shards of one permutation;
* validation and test predictions are computed on shards and gathered from every rank
  (:func:`gather_rows`) before any score is taken: AUPRC and top-k are not averages;
* only rank 0 draws progress bars and writes checkpoints and logs;
* each rank's random stream (augmentation, mixup) is seeded from the run seed and its rank
  (:func:`rank_seed`); rank 0 keeps the run seed, so a one-process run is unchanged.

Without ``torchrun`` nothing here starts a process group and every helper is the identity of a
one-process run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from l2i_core._errors import ParameterError

__all__ = ["DistInfo", "init_distributed", "shutdown_distributed", "dist_info", "is_main", "rank_seed", "shard_range", "gather_rows",
           "gather_map", "barrier", "RANK_SEED_STRIDE"]

RANK_SEED_STRIDE = 1_000_003
"""Rank r's random stream is seeded with ``seed + r * RANK_SEED_STRIDE`` (a prime)."""


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank, how many processes, and the device it should use."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def dist_info() -> DistInfo:
    """This process's rank and the world size (rank 0 of 1 without a process group)."""
    if not _active():
        return DistInfo()
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", 0)), backend=str(dist.get_backend()))


def is_main() -> bool:
    """Whether this process writes files and draws progress (rank 0, or the only process)."""
    return dist_info().is_main


def init_distributed(device: str | None = None) -> DistInfo:
    """Start the process group from ``torchrun``'s environment; without it, do nothing.

    Parameters
    ----------
    device : str or None
        ``'cuda'`` / ``'cpu'`` / None (CUDA when available). NCCL is used on CUDA (each process on
        ``cuda:LOCAL_RANK``), gloo on CPU.

    Raises
    ------
    ParameterError
        When ``WORLD_SIZE`` > 1 but the rendezvous variables are missing.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or _active():
        return dist_info()
    missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ParameterError(f"WORLD_SIZE={world} but {', '.join(missing)} not set: launch with torchrun "
                             "(torchrun --nproc_per_node=2 -m l2i_core ...)")
    cuda = torch.cuda.is_available() and device != "cpu"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return dist_info()


def shutdown_distributed(*, wait: bool = True) -> None:
    """End the process group started by :func:`init_distributed` (a no-op without one).

    Every rank waits for the others first (``wait``; pass ``False`` after an error, so that a rank that
    failed does not hang on a barrier the others never reach), then ``destroy_process_group``: a process
    that exits with its group alive may abort in gloo's threads ("terminate called without an active
    exception").
    """
    if not _active():
        return
    if wait:
        dist.barrier()
    dist.destroy_process_group()


def rank_seed(seed: int, rank: int | None = None) -> int:
    """The seed of rank ``rank``'s random stream (default: this process's rank): ``seed`` on rank 0."""
    r = dist_info().rank if rank is None else int(rank)
    return int(seed) + r * RANK_SEED_STRIDE


def shard_range(n: int, rank: int | None = None, world_size: int | None = None) -> range:
    """This rank's contiguous share of ``range(n)``: ranks in order cover it exactly once."""
    info = dist_info()
    r = info.rank if rank is None else rank
    w = info.world_size if world_size is None else world_size
    per = -(-n // w)  # ceil
    return range(min(n, r * per), min(n, (r + 1) * per))


def gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Concatenate, in rank order, every rank's rows of ``t`` (on the CPU): the whole set on every rank.

    Used with :func:`shard_range`, so the result is in the clips' original order. Ranks may hold
    different numbers of rows (the last shard is shorter). One process: ``t`` itself.
    """
    if not _active() or dist.get_world_size() == 1:
        return t
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, t.detach().cpu())
    return torch.cat(parts)


def gather_map(fn, n: int, batch_size: int = 64) -> torch.Tensor:
    """``fn(idx)`` over this rank's contiguous shard of ``range(n)`` in batches, gathered from every rank.

    The rows come back in the items' order on every rank, so a score computed on them is the
    one-process score (never an average of per-rank scores). One process: ``fn`` over every item.
    """
    mine = shard_range(n)
    out = [fn(torch.arange(s, min(s + batch_size, mine.stop))).detach().cpu()
           for s in range(mine.start, mine.stop, batch_size)]
    local = torch.cat(out) if out else fn(torch.arange(0, 0)).detach().cpu()
    return gather_rows(local)


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if _active():
        dist.barrier()

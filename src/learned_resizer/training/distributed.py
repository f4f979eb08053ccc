"""What a run does differently when it trains on several processes (DDP, one per device).

Lightning starts the other processes by running the whole command again, so everything around
``Trainer.fit`` (a comparison's loop over runs included) runs once per process, in step. After
each fit, rank 0 alone tests and writes the run's files while the others wait for it
(:func:`on_rank_zero`); they then read what it wrote, and every process goes on to the next fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only

T = TypeVar("T")

#: the multiplier of the per-batch seed (a prime, so that seed, epoch and batch do not mix)
_SEED_PRIME = 1_000_003


def global_rank() -> int:
    """This process's rank among a run's processes (0 without DDP). Lightning sets it from the
    launcher's environment at import, so it is right in a re-launched process before its first
    fit, and again from the process group at every fit."""
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def is_global_zero() -> bool:
    """Whether this process writes a run's files and reports (rank 0, or the only process)."""
    return global_rank() == 0


def step_seed(seed: int, epoch: int, batch: int, rank: int = 0) -> int:
    """The seed of the random draws (dropout) of training batch ``batch`` of ``epoch`` on ``rank``.

    A function of these alone, so a resumed run draws what an uninterrupted one drew. Rank 0 draws
    as a single-process run does; every other rank has its own stream, so the devices of a DDP
    run do not all draw the same dropout masks.
    """
    base = (seed * _SEED_PRIME + epoch) * _SEED_PRIME + batch
    if rank == 0:
        return base
    low, high = np.random.SeedSequence([seed, epoch, batch, rank]).generate_state(2)
    return int(low) | (int(high) & 0x7FFF_FFFF) << 32


def on_rank_zero(trainer: L.Trainer, work: Callable[[], T]) -> T | None:
    """``work()`` on global rank 0 alone, after ``trainer.fit``; the other ranks wait until it is
    done (returning None) and can then read what it wrote. The process group is then taken down,
    so that the next Trainer of the same processes sets up a fresh one.

    Rank 0 works while the group is still up (its metrics must not try to gather from the waiting
    ranks: see :func:`learned_resizer.evaluation.compute_metrics`); its work must end within the
    group's timeout (Lightning's default: 30 minutes). An error on rank 0 is raised there, and the
    other ranks raise one that points to it instead of reading files that were never written.
    """
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    result, failure = None, None
    if trainer.is_global_zero:
        try:
            result = work()
        except BaseException as error:  # the waiting ranks must be released whatever happened
            if not distributed:
                raise
            failure = error
    if distributed:
        succeeded = trainer.strategy.broadcast(failure is None, src=0)
        torch.distributed.destroy_process_group()
        if failure is not None:
            raise failure
        if not succeeded:
            raise RuntimeError(
                f"rank 0 failed after training (rank {trainer.global_rank} waited for it); see its error"
            )
    return result

"""Data-parallel training under ``torchrun`` (DDP), and the epoch ordering every rank agrees on.

The order of an epoch is a permutation seeded by ``(seed, epoch)`` only, so a resumed run recomputes it
exactly; with ``world`` ranks it is padded to a multiple of ``world`` (repeating its start) and rank ``r``
takes every ``world``-th image from position ``r`` — the same split as torch's DistributedSampler.
Only rank 0 writes checkpoints and logs. Backends: gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """Indices (int64) this rank visits in ``epoch``: (ceil(n / world),)."""
    g = torch.Generator().manual_seed(int(seed) * 100003 + int(epoch))
    perm = torch.randperm(n, generator=g).numpy()
    total = -(-n // world) * world
    if total > n:
        perm = np.concatenate([perm, perm[: total - n]])
    return perm[rank::world]


def world_from_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) outside torchrun."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def init(device: str) -> tuple[int, int, torch.device]:
    """Join the process group if launched by torchrun. Returns (rank, world, this rank's device)."""
    rank, world, local = world_from_env()
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local if world > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return rank, world, dev


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any (a collective; returns ``flag`` when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(value: float, device: torch.device) -> float:
    """The mean of a float over all ranks (``value`` itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()

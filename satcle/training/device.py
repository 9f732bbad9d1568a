"""Device selection, mixed precision and distributed (torchrun) set-up.

The GPU paths (CUDA, bfloat16 autocast, DDP over NCCL) are written but were not
exercised on a GPU in this project; on CPU, autocast is off and DDP uses gloo.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..core.errors import InvalidArgumentError


def select_device(requested: str = "auto") -> torch.device:
    """"auto" -> the local CUDA device (per torchrun's LOCAL_RANK) if available, else MPS, else CPU.

    Any other string is passed to torch.device; asking for CUDA without one raises
    ValueError.
    """
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError("device 'cuda' requested but torch sees no CUDA GPU")
    return device


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on CUDA when `enabled`; a no-op context elsewhere.

    bfloat16 keeps float32's range, so no gradient scaler is needed.
    """
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group torchrun describes in WORLD_SIZE/RANK (NCCL on CUDA, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size())


def is_main_process() -> bool:
    """True unless this is a torchrun worker other than rank 0 (only rank 0 writes results)."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def average_across_ranks(value: float, distributed: Distributed, device: torch.device) -> float:
    """Mean of a scalar over all ranks (the value itself when not distributed)."""
    if not distributed.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / distributed.world_size

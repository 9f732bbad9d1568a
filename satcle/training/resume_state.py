"""Training checkpoints: atomic writes, and reads that cannot run code.

Checkpoints hold optimiser state next to weights, so they use torch's format,
but they are read with `weights_only=True` (tensors, numbers, strings, lists and
dicts only: no arbitrary unpickling).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core.atomic import atomic_path


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write `state` (tensors and plain Python values) to `path` atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by `save_checkpoint`, onto the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)

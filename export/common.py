"""Helpers shared by the training commands: data root, seeding, threads, checkpoints."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from export.catalog import DATA_ROOT, WEIGHTS_DIR  # noqa: F401 - re-exported for the training commands


def setup(seed: int, threads: int | None) -> torch.device:
    """Seed every RNG, set torch's thread count, and pick CUDA when present."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def save_checkpoint(path: Path, **state: object) -> None:
    """Atomically write a checkpoint (tensors and plain Python values only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)

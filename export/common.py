"""Helpers shared by the training commands: data root, seeding, threads, image tensors, checkpoints."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from export.catalog import DATA_ROOT  # noqa: F401 - re-exported for the training commands


class Stopped(Exception):
    """A stop came (``realtime train-style``'s Ctrl-C or SIGTERM, as a ``threading.Event``): the work ended early,
    what it had made kept where it says."""


def stopped(stop) -> bool:
    """Whether ``stop`` (a ``threading.Event``, or None for no stop) is set."""
    return stop is not None and stop.is_set()


def setup(seed: int, threads: int | None) -> torch.device:
    """Seed every RNG, set torch's thread count, and pick CUDA when present."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_tensor(images: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """uint8 BGR images (N x H x W x 3, or a list of H x W x 3) -> float32 RGB N x 3 x H x W in 0..1: what the
    networks take (the ONNX contract in models/README.md), while OpenCV reads and writes BGR bytes."""
    batch = np.asarray(images)
    return torch.from_numpy(np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2))).float() / 255


def to_image(out: torch.Tensor) -> np.ndarray:
    """A network's first painting (RGB 0..1 tensor) as uint8 BGR, rounded as the runtime rounds: ``to_tensor`` the
    other way."""
    return np.rint(out[0].float().numpy().transpose(1, 2, 0)[..., ::-1] * 255).clip(0, 255).astype(np.uint8)


def save_checkpoint(path: Path, **state: object) -> None:
    """Atomically write a checkpoint (tensors and plain Python values only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
    return torch.load(path, map_location="cpu", weights_only=True)

"""Per-user folders the runtime writes to."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Per-user cache (TensorRT engines and timing caches)."""
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "realtime"

"""Per-user folders, where each platform keeps them (platformdirs: XDG on Linux, AppData on Windows, Library on
macOS)."""
from __future__ import annotations

from pathlib import Path

import platformdirs

_DIRS = platformdirs.PlatformDirs("realtime", appauthor=False)


def config_file() -> Path:
    """The default config file, read by every command when it exists (e.g. ~/.config/realtime/config.toml)."""
    return _DIRS.user_config_path / "config.toml"


def cache_dir() -> Path:
    """Per-user cache (TensorRT engines and timing caches)."""
    return _DIRS.user_cache_path


def data_dir() -> Path:
    """Per-user data (the user's own styles live in its ``styles`` folder)."""
    return _DIRS.user_data_path


def snapshots_dir() -> Path:
    """Where the preview's `s` key saves its PNG snapshots."""
    return platformdirs.user_pictures_path() / "realtime"

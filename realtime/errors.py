"""The one exception type the command line turns into a one-line message and an exit code."""
from __future__ import annotations

# exit codes (documented in README.md)
EXIT_ERROR = 1  # bad input: unknown style, corrupt model, unreadable file, bad option
EXIT_NO_DEVICE = 2  # no virtual camera / camera device
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM


class RealtimeError(Exception):
    """A user-facing failure: ``str(err)`` is the whole message, ``exit_code`` the process status."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code

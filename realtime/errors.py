"""The one exception type the command line turns into a one-line message and an exit code."""
from __future__ import annotations

# exit codes (documented in README.md, "Exit codes")
EXIT_OK = 0  # done, or quit by the user
EXIT_ERROR = 1  # bad input or failure: unknown style, corrupt model, unreadable file, value out of range, disk full
EXIT_USAGE = 2  # what the command-line parser rejects: unknown option, missing argument, value of the wrong type
EXIT_NO_DEVICE = 3  # no camera, virtual camera or display
EXIT_INTERRUPTED = 130  # Ctrl-C; every stopping signal exits 128 + its number (SIGHUP 129, SIGTERM 143)


def signal_exit(signum: int) -> int:
    """The shell's convention for a process ended by a signal."""
    return 128 + signum


class RealtimeError(Exception):
    """A user-facing failure: ``str(err)`` is the whole message, ``exit_code`` the process status."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code

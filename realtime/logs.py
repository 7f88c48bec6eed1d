"""The command's messages on stderr: the "realtime" loggers through rich's handler, one line a message.

The library itself adds only a NullHandler (``realtime/__init__.py``); this is the command line's choice, so a
program embedding the filter keeps its own logging configuration.
"""
from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

# one console on stderr for the log lines and render's progress bar: rich puts a line above a live bar only when both
# go through the same console (it writes past the proxy it puts in sys.stderr's place)
console = Console(stderr=True, soft_wrap=True)


class OneLineHandler(RichHandler):
    """rich's handler without its time, level and path columns and without wrapping at the terminal's width: one
    line a message, prefixed as the command has always said them ("warning: ...", "error: ..."; "debug: ..."
    with -v), so a log stays greppable. Colour where stderr is a terminal."""

    def render(self, *, record, traceback, message_renderable):
        if record.levelno == logging.INFO:
            return message_renderable
        name = record.levelname.lower()
        return Text.assemble((f"{name}: ", f"logging.level.{name}"), message_renderable)


def configure(level: int) -> None:
    """Send the "realtime" loggers' messages from ``level`` up to stderr (stdout is for what a command puts out:
    `config`, `styles`, `doctor`). Called again, it replaces its handler rather than adding a second one."""
    root = logging.getLogger("realtime")
    for old in [h for h in root.handlers if isinstance(h, OneLineHandler)]:
        root.removeHandler(old)
    root.addHandler(OneLineHandler(console=console, show_time=False, show_level=False, show_path=False, markup=False))
    root.setLevel(level)

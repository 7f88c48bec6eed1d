"""FPS benchmark of the real pipeline; the same as `realtime bench` (run with --help for options)."""
import sys

from realtime.cli import app

if __name__ == "__main__":
    app(["bench", *sys.argv[1:]])

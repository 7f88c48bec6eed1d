"""Real-time webcam style filter: person segmentation + neural style transfer, to a virtual camera.

Data flows one way: source -> segment -> stylize -> composite -> sinks.
"""
import logging
import os

# OpenCV's camera probing and FFmpeg's demuxers are noisy; we report errors ourselves, in one line
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

__version__ = "0.1.0"

# a library adds no handler of its own: the program embedding it decides where "realtime.*" messages go (the
# command line attaches rich's handler on stderr); this only stops Python's last-resort printing of warnings
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    """``realtime.Filter``, loaded on first use (the command line does not need OpenCV's and ONNX Runtime's
    import time before it parses its arguments)."""
    if name == "Filter":
        from realtime.api import Filter

        return Filter
    raise AttributeError(f"module 'realtime' has no attribute {name!r}")

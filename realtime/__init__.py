"""Real-time webcam style filter: person segmentation + neural style transfer, to a virtual camera.

Data flows one way: source -> segment -> stylize -> composite -> sinks.
"""
import os

# OpenCV's camera probing and FFmpeg's demuxers are noisy; we report errors ourselves, in one line
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

__version__ = "0.1.0"

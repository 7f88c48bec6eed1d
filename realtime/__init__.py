"""Real-time webcam style filter: person segmentation + neural style transfer, to a virtual camera.

Data flows one way: source -> segment -> stylize -> composite -> sinks.
"""
import os

os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # OpenCV's camera probing is noisy; errors are reported by us

__version__ = "0.1.0"

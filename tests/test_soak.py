"""A short soak: thousands of frames through the live path; queues stay bounded, memory does not grow."""
import threading

import numpy as np
import pyvirtualcam

from realtime.bench import NullBackend, PoolCapture, current_rss_mb, synthetic_frames
from realtime.config import Settings
from realtime.live import LiveLoop
from realtime.pipeline import Pipeline
from realtime.sinks import VirtualCameraSink
from realtime.source import LiveSource


def test_two_thousand_frames_bounded():
    pyvirtualcam.register_backend("soak-null", NullBackend)
    frames = synthetic_frames(160, 96, 24)
    pipe = Pipeline.from_settings(Settings(style_scale=0.5, threads=2))
    sink = VirtualCameraSink(160, 96, 30, "I420", backend="soak-null")
    total = 2000
    src = LiveSource(lambda: PoolCapture(frames, total), reconnect=False, pace_fps=150).start()
    loop = LiveLoop(pipe, src, sink, stop=threading.Event())
    samples = []
    t = threading.Thread(target=loop.run)
    t.start()
    while t.is_alive():
        t.join(0.5)
        samples.append(current_rss_mb())
        assert src._latest is None or isinstance(src._latest.image, np.ndarray)  # one slot, never a queue
    src.close()
    sink.close()
    assert loop.frames_out + src.dropped >= total * 0.95
    assert loop.frames_out > 200
    warm = samples[len(samples) // 4:]
    assert max(warm) - min(warm) < 20, f"RSS grew {max(warm) - min(warm):.1f} MB"

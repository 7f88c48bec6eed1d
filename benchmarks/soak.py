"""Soak test: the live pipeline for N minutes at 640x360; fps over time and RSS, so leaks and slow-downs show.

    python benchmarks/soak.py --minutes 30 --json benchmarks/soak.json

Target: RSS growth < 20 MB and fps decay < 5% (last minute vs first minute after warm-up).
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import pyvirtualcam

from realtime.bench import CAMERA_FPS, NullBackend, PoolCapture, current_rss_mb, synthetic_frames
from realtime.config import Settings
from realtime.live import LiveLoop
from realtime.pipeline import Pipeline
from realtime.sinks import VirtualCameraSink
from realtime.source import LiveSource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--style", default="udnie")
    ap.add_argument("--interval", type=float, default=30, help="seconds per sample")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    pyvirtualcam.register_backend("soak-null", NullBackend)
    pipe = Pipeline.from_settings(Settings(style=args.style), log=print)
    sink = VirtualCameraSink(w, h, 30, "BGR", backend="soak-null")
    src = LiveSource(lambda: PoolCapture(synthetic_frames(w, h), 10**12), reconnect=False,
                     pace_fps=CAMERA_FPS).start()
    stop = threading.Event()
    loop = LiveLoop(pipe, src, sink, stop=stop)
    t = threading.Thread(target=loop.run, daemon=True)
    t0 = time.perf_counter()
    t.start()
    samples, last_n, last_t = [], 0, t0
    while time.perf_counter() - t0 < args.minutes * 60:
        time.sleep(args.interval)
        now, n = time.perf_counter(), loop.frames_out
        samples.append({"t_s": round(now - t0), "fps": round((n - last_n) / (now - last_t), 2),
                        "rss_mb": round(current_rss_mb(), 1), "dropped": src.dropped})
        print(samples[-1], flush=True)
        last_n, last_t = n, now
    stop.set()
    t.join(2)
    src.close()
    sink.close()
    warm = samples[1:] if len(samples) > 2 else samples
    per_min = max(1, int(60 / args.interval))
    first = sum(s["fps"] for s in warm[:per_min]) / len(warm[:per_min])
    last = sum(s["fps"] for s in warm[-per_min:]) / len(warm[-per_min:])
    result = {"minutes": args.minutes, "size": args.size, "frames": loop.frames_out,
              "rss_growth_mb": round(warm[-1]["rss_mb"] - warm[0]["rss_mb"], 1),
              "fps_first_minute": round(first, 2), "fps_last_minute": round(last, 2),
              "fps_decay_percent": round(100 * (first - last) / first, 2), "samples": samples}
    print({k: v for k, v in result.items() if k != "samples"})
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

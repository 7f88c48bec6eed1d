"""Shared fixtures: synthetic clips, ONNX files with the wrong contract, the shared data folder."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime import segment

REAL_FULL_NET_FIT = segment.full_net_fit  # the real one, for its own tests (a fixture below stands in for it)
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REALTIME_DATA", REPO.parent / "shared" / "data"))
WEBCAM_CLIPS = SHARED / "video" / "webcam_clips"


class OnCpu:
    """The ``session`` of a stand-in network: the pipeline asks its networks where they run."""

    accelerated = False


def needs_shared(sub: str = "") -> pytest.MarkDecorator:
    """Skip unless ../shared/data (CI has it; a user's clone does not) holds ``sub``."""
    return pytest.mark.skipif(not (SHARED / sub).exists(),
                              reason=f"needs {SHARED / sub} (training data folder beside the repo; absent here)")


def logged(caplog, level: int = logging.INFO) -> list[str]:
    """The messages the "realtime" loggers gave from ``level`` up, as caught by pytest's ``caplog``."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("realtime") and r.levelno >= level]


@pytest.fixture
def caplog(caplog):
    """pytest's caplog, catching the "realtime" loggers from INFO up whatever level an earlier in-process command
    left them at."""
    caplog.set_level(logging.INFO, logger="realtime")
    return caplog


def run_cli(*args: str, timeout: float = 120, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run `python -m realtime ARGS` as a real subprocess."""
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "realtime", *args], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=kw.pop("cwd", REPO), **kw)


def synthetic_frames(n: int = 30, w: int = 320, h: int = 180) -> list[np.ndarray]:
    """A bright 'person' blob moving over a textured background."""
    rng = np.random.default_rng(1)
    bg = cv2.resize(rng.integers(30, 230, (9, 16, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    out = []
    for i in range(n):
        f = bg.copy()
        cx = w // 3 + i * 2
        cv2.ellipse(f, (cx, h), (w // 7, h // 2), 0, 180, 360, (50, 70, 160), -1)
        cv2.circle(f, (cx, int(h * 0.45)), h // 7, (110, 150, 210), -1)
        out.append(f)
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25) -> Path:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames, fps


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 30-frame 320x180 synthetic clip at 25 fps."""
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", synthetic_frames())


def onnx_model(path: Path, in_name: str, out_name: str, out_channels: int,
               metadata: dict[str, str] | None = None) -> Path:
    """A small but real ONNX graph: 1x1 conv + sigmoid, dynamic N/H/W (built with onnx.helper, no torch)."""
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [out_channels, 3, 1, 1], [0.1] * (out_channels * 3))
    nodes = [helper.make_node("Conv", [in_name, "w"], ["c"]), helper.make_node("Sigmoid", ["c"], [out_name])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["n", out_channels, "h", "w"])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, metadata or {})
    onnx.save(model, str(path))
    return path


@pytest.fixture(autouse=True)
def no_user_config(tmp_path_factory, monkeypatch):
    """Every test sees no default config file and no REALTIME_OPT_* variables of the machine it runs on."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config-home")))
    for var in [v for v in os.environ if v.startswith("REALTIME_OPT_")]:
        monkeypatch.delenv(var)


@pytest.fixture(autouse=True)
def _cpu_that_does_not_afford_the_full_person_net(monkeypatch):
    """Live on a CPU the person file is chosen by how fast this CPU runs the full one (``segment.full_net_fit``):
    in-process tests run as on a CPU that does not afford it (the small file, on every frame that moves), whatever the
    host's speed, unless a test says otherwise."""
    monkeypatch.setattr(segment, "full_net_fit", lambda *args, **kwargs: (None, {}))

"""ONNX Runtime sessions: every session in the project is opened here, on the provider ``realtime.providers``
chooses, with an honest line when ONNX Runtime fell back, and IO binding for the device it really runs on."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from realtime import providers
from realtime.errors import RealtimeError
from realtime.models import check_contract, first_line

logger = logging.getLogger(__name__)
_said: set[str] = set()


def _warn_once(message: str) -> None:
    """Say each fallback once per process, not once per network."""
    if message not in _said:
        _said.add(message)
        logger.warning(message)


def session_options(threads: int | None = None, optimize: bool = True):
    """Options shared by every session: quiet, fully optimised, threads that sleep instead of spinning."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
    opts.inter_op_num_threads = 1
    # two runtimes (the two networks, OpenCV) busy-waiting on 2 cores slow each other ~10x
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def cpu_session(model: Path | bytes, threads: int | None = None, optimize: bool = True):
    """A plain ONNX Runtime session on the CPU, for tools (metadata reads, the training teacher, export checks)."""
    import onnxruntime as ort

    src = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(src, session_options(threads, optimize), providers=providers.cpu_only())


_run_options: list = []  # one ort.RunOptions for every session, so that stop_runs ends whichever one is running
_stopped = False  # sticky: a stop that comes while the models still load must also refuse the first run
_stop_lock = threading.Lock()  # the stop comes on another thread than the one making the options


def stop_runs(stop: bool = True) -> None:
    """End the network running now, and refuse new runs (``stop``), or allow them again: a stop must not wait
    for a run of seconds (ONNX Runtime's ``RunOptions.terminate``)."""
    global _stopped
    with _stop_lock:
        _stopped = stop
        for options in _run_options:
            options.terminate = stop


def _shared_run_options():
    import onnxruntime as ort

    with _stop_lock:
        if not _run_options:
            _run_options.append(ort.RunOptions())
            _run_options[0].terminate = _stopped
        return _run_options[0]


@dataclass
class Session:
    """An ONNX Runtime session with the provider it really got."""

    sess: object
    path: Path
    provider: str
    input_name: str
    output_name: str
    run_options: object = field(default=None, repr=False)  # an ort.RunOptions (see stop_runs)

    @property
    def accelerated(self) -> bool:
        """Runs on a GPU (or another accelerator): the one place sessions answer that."""
        return providers.is_accelerator(self.provider)

    @property
    def device(self) -> str:
        return providers.short(self.provider)

    @property
    def metadata(self) -> dict[str, str]:
        """The model file's metadata (models/README.md, "The ONNX contract")."""
        return dict(self.sess.get_modelmeta().custom_metadata_map)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run on one NCHW float32 array; returns the single output."""
        p = providers.by_ort_name(self.provider)
        if p is None or p.io_device is None:
            return self.sess.run([self.output_name], {self.input_name: x}, self.run_options)[0]
        binding = self.sess.io_binding()  # one upload, one download; ORT allocates the output on the device
        binding.bind_cpu_input(self.input_name, x)
        binding.bind_output(self.output_name, p.io_device)
        self.sess.run_with_iobinding(binding, self.run_options)
        return binding.copy_outputs_to_cpu()[0]

    def warm_up(self, shape: tuple[int, int, int, int]) -> None:
        """Run once on zeros of ``shape`` (TensorRT builds its engine for that shape); one-line error if it fails."""
        try:
            self.run(np.zeros(shape, np.float32))
        except Exception as exc:  # noqa: BLE001
            raise RealtimeError(f"{self.path.name} failed to run: {first_line(exc)}") from None


def open_session(path: Path, kind: str, device: str = "auto", threads: int | None = None,
                 warmup_shape: tuple[int, int, int, int] | None = None, lean: bool = False) -> Session:
    """Load ``path`` on the best provider for ``device``, check it against the ``kind`` contract, warm it up.
    ``lean``: without ONNX Runtime's memory pattern (for a network that holds large buffers between rare runs).

    Logs one warning when ONNX Runtime fell back from the provider that was asked for (``log`` is deprecated).
    """
    import onnxruntime as ort

    chain = providers.provider_chain(device)
    if not path.is_file():
        raise RealtimeError(f"model file not found: {path}")
    first = chain[0]
    if first.start_help:  # NVIDIA's libraries come from pip wheels that ORT does not look in by itself
        from realtime.nvidia import preload_cuda_libraries

        preload_cuda_libraries()
    options = session_options(threads)
    if lean:  # without ORT's one planned block per input shape (its arena rounds it up): the same speed, for the
        options.enable_mem_pattern = False  # plate's int8 network far less memory held (benchmarks/RESULTS.md)
    try:
        sess = ort.InferenceSession(str(path), options, providers=[(p.ort_name, p.options()) for p in chain])
    except Exception as exc:  # noqa: BLE001 - ORT raises many types for a corrupt file
        raise RealtimeError(f"cannot load {path.name}: not a valid ONNX model ({first_line(exc)})") from None
    check_contract(sess, kind, path)
    got = sess.get_providers()[0]
    if device != "cpu" and got != first.ort_name:
        help_ = first.start_help() if first.start_help and providers.is_cpu(got) else ""
        _warn_once(f"{first.device} could not start (ONNX Runtime fell back); running on {providers.short(got)}"
                   + (f"; {help_}" if help_ else ""))
    elif device not in (providers.AUTO, "cpu") and providers.is_cpu(got):
        _warn_once(f"{device} requested but {providers.by_device(device).why_unavailable()}; running on the CPU")
    threads_got = options.intra_op_num_threads
    logger.debug("%s (%s) on %s, %d thread%s", path.name, kind, providers.short(got), threads_got,
                 "" if threads_got == 1 else "s")
    s = Session(sess, path, got, sess.get_inputs()[0].name, sess.get_outputs()[0].name, _shared_run_options())
    if warmup_shape:
        s.warm_up(warmup_shape)
    return s

"""ONNX Runtime sessions: provider choice (TensorRT -> CUDA -> CPU), honest fallback reporting, warm-up."""
from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import importlib.util
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.errors import RealtimeError
from realtime.models import check_contract, first_line

TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
SHORT = {TRT: "tensorrt", CUDA: "cuda", CPU: "cpu"}


def cache_dir() -> Path:
    """Per-user cache for TensorRT engines and timing caches."""
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "realtime"


def nvidia_driver_present() -> bool:
    """True when the NVIDIA driver library loads (checked before asking ONNX Runtime for CUDA,
    so a CPU-only machine with onnxruntime-gpu never prints CUDA library errors)."""
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def cuda_build() -> str:
    """The CUDA major version the installed onnxruntime-gpu was built for ("13" for 1.27 and later, "12" before),
    or "" when no onnxruntime-gpu is installed."""
    import onnxruntime as ort

    built = getattr(ort, "cuda_version", "") or ""
    if built:
        return built.split(".")[0]
    try:  # the CPU package installed over it hides the build info; the GPU package's metadata still says
        requires = importlib.metadata.requires("onnxruntime-gpu") or []
    except importlib.metadata.PackageNotFoundError:
        return ""
    found = (re.match(r"nvidia-cuda-runtime(?:-cu\d+)?\s*~=\s*(\d+)", r) for r in requires)
    return next((m.group(1) for m in found if m), "")


def gpu_package_problem() -> str | None:
    """Why this ONNX Runtime cannot use an NVIDIA GPU whatever the machine has, with the fix; None if it can."""
    import onnxruntime as ort

    if CUDA in ort.get_available_providers():
        return None
    try:
        importlib.metadata.version("onnxruntime-gpu")
    except importlib.metadata.PackageNotFoundError:
        return "this onnxruntime is the CPU-only package: pip install onnxruntime-gpu"
    return ("the CPU package onnxruntime is installed over onnxruntime-gpu (the train extra pulls it in): "
            "pip install --force-reinstall --no-deps onnxruntime-gpu")


_preload_failed: list[str] | None = None


def preload_cuda_libraries() -> list[str]:
    """Load CUDA and cuDNN from NVIDIA's pip wheels (the ``cuda`` extra) when they are installed: ONNX Runtime's
    CUDA provider does not look for them in site-packages by itself. Its messages are kept, not printed.
    Returns the libraries that did not load (empty when all did, or when no such wheels are installed)."""
    global _preload_failed
    if _preload_failed is None:
        import onnxruntime as ort

        _preload_failed = []
        if hasattr(ort, "preload_dlls") and importlib.util.find_spec("nvidia") is not None:
            said = io.StringIO()
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                try:
                    ort.preload_dlls()
                except Exception as exc:  # noqa: BLE001 - a broken wheel must not stop a CPU fallback
                    print(f"Failed to load {exc}")
            failed = re.findall(r"Failed to load (\S+?):?\s", said.getvalue() + "\n")
            _preload_failed = sorted({Path(f).name for f in failed})
    return _preload_failed


def cuda_help() -> str:
    """What this onnxruntime-gpu needs to run on CUDA, in one clause."""
    major = cuda_build() or "13"
    failed = preload_cuda_libraries()
    return (f"onnxruntime-gpu needs the CUDA {major} and cuDNN 9 libraries (pip install \"realtime-style[cuda]\") "
            f"and an NVIDIA driver for CUDA {major}" + (f"; not loaded: {', '.join(failed)}" if failed else "")
            + "; `realtime doctor` says what loads")


def provider_chain(device: str) -> list[str]:
    """Providers to ask for, best first, limited to what this machine can really load."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    gpu = nvidia_driver_present()
    wanted = {"auto": [TRT, CUDA], "tensorrt": [TRT, CUDA], "cuda": [CUDA], "cpu": []}[device]
    return [p for p in wanted if p in available and gpu] + [CPU]


def _provider_options(name: str) -> dict[str, str]:
    if name == TRT:
        cache = cache_dir() / "tensorrt"
        cache.mkdir(parents=True, exist_ok=True)
        return {
            "trt_fp16_enable": "True",
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(cache),
        }
    if name == CUDA:
        return {"cudnn_conv_algo_search": "HEURISTIC", "do_copy_in_default_stream": "True"}
    return {}


_said: set[str] = set()


def _note_once(log, message: str) -> None:
    """Say each fallback once per process, not once per network."""
    if message not in _said:
        _said.add(message)
        log(message)


_run_options: list = []  # one ort.RunOptions for every session, so that stop_runs ends whichever one is running


def stop_runs(stop: bool = True) -> None:
    """End the network running now, and refuse new runs (``stop``), or allow them again: a stop must not wait
    for a run of seconds (ONNX Runtime's ``RunOptions.terminate``)."""
    for options in _run_options:
        options.terminate = stop


@dataclass
class Session:
    """An ONNX Runtime session with the provider it really got."""

    sess: object
    path: Path
    provider: str
    input_name: str
    output_name: str
    run_options: object = None  # an ort.RunOptions (see stop_runs)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run on one NCHW float32 array; returns the single output."""
        if self.provider == CPU:
            return self.sess.run([self.output_name], {self.input_name: x}, self.run_options)[0]
        binding = self.sess.io_binding()  # one upload, one download; ORT allocates the output on the GPU
        binding.bind_cpu_input(self.input_name, x)
        binding.bind_output(self.output_name, "cuda")
        self.sess.run_with_iobinding(binding, self.run_options)
        return binding.copy_outputs_to_cpu()[0]

    def warm_up(self, shape: tuple[int, int, int, int]) -> None:
        """Run once on zeros of ``shape`` (TensorRT builds its engine for that shape); one-line error if it fails."""
        try:
            self.run(np.zeros(shape, np.float32))
        except Exception as exc:  # noqa: BLE001
            raise RealtimeError(f"{self.path.name} failed to run: {first_line(exc)}") from None


def open_session(path: Path, kind: str, device: str = "auto", threads: int | None = None,
                 warmup_shape: tuple[int, int, int, int] | None = None, log=print) -> Session:
    """Load ``path`` on the best provider for ``device``, check it against the ``kind`` contract, warm it up.

    Prints one line through ``log`` when ONNX Runtime fell back from the provider that was asked for.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    chain = provider_chain(device)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
    opts.inter_op_num_threads = 1
    # two runtimes (the two networks, OpenCV) busy-waiting on 2 cores slow each other ~10x
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not path.is_file():
        raise RealtimeError(f"model file not found: {path}")
    if chain[0] != CPU:
        preload_cuda_libraries()
    try:
        sess = ort.InferenceSession(str(path), opts, providers=[(p, _provider_options(p)) for p in chain])
    except Exception as exc:  # noqa: BLE001 - ORT raises many types for a corrupt file
        raise RealtimeError(f"cannot load {path.name}: not a valid ONNX model ({first_line(exc)})") from None
    check_contract(sess, kind, path)
    got = sess.get_providers()[0]
    if device != "cpu" and got != chain[0]:
        _note_once(log, f"note: {SHORT.get(chain[0], chain[0])} could not start (ONNX Runtime fell back); "
                        f"running on {SHORT.get(got, got)}" + ("" if got != CPU else f"; {cuda_help()}"))
    elif device in ("cuda", "tensorrt") and got == CPU:
        why = gpu_package_problem() if nvidia_driver_present() else None
        _note_once(log, f"note: {device} requested but " + (why or "no usable NVIDIA GPU/driver was found")
                   + "; running on the CPU")
    if not _run_options:
        _run_options.append(ort.RunOptions())
    s = Session(sess, path, got, sess.get_inputs()[0].name, sess.get_outputs()[0].name, _run_options[0])
    if warmup_shape:
        s.warm_up(warmup_shape)
    return s

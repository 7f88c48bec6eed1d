"""What an NVIDIA GPU needs from this machine: the driver, onnxruntime-gpu's CUDA build, the CUDA/cuDNN libraries.

Diagnosis only (for `realtime doctor` and the fallback line); which provider a session gets is decided in
``realtime.providers``.
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import importlib.util
import io
import re
import sys
from pathlib import Path


def driver_present() -> bool:
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

    from realtime.providers import by_device

    if by_device("cuda").ort_name in ort.get_available_providers():
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


def cuda_status() -> str:
    """Whether ONNX Runtime can use CUDA here: the package, the driver, the CUDA/cuDNN libraries it needs."""
    major = cuda_build()
    if not driver_present():
        return "no NVIDIA driver, so not tried" + (f" (onnxruntime-gpu built for CUDA {major})" if major else "")
    if problem := gpu_package_problem():
        return f"not usable: {problem}"
    preload_cuda_libraries()
    wanted = [f"libcudart.so.{major}", f"libcublas.so.{major}", "libcudnn.so.9"]
    if sys.platform == "win32":
        wanted = [f"cudart64_{major}.dll", f"cublas64_{major}.dll", "cudnn64_9.dll"]
    missing = []
    for name in wanted:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return f"onnxruntime-gpu built for CUDA {major}; libraries " + (
        f"missing: {', '.join(missing)} (pip install \"realtime-style[cuda]\", or install CUDA {major} + cuDNN 9)"
        if missing else "load")

"""Where a network runs: the one table of devices (``--device``) and ONNX Runtime execution providers.

Adding a provider is one ``Provider`` entry here; the CLI's choices, config validation, the provider chain,
IO binding and every "is this an accelerator" question read this table.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from realtime import nvidia
from realtime.paths import cache_dir

CPU = "CPUExecutionProvider"


def _tensorrt_options() -> dict[str, str]:
    cache = cache_dir() / "tensorrt"
    cache.mkdir(parents=True, exist_ok=True)
    return {"trt_fp16_enable": "True", "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache)}


def _nvidia_unavailable() -> str:
    return (nvidia.gpu_package_problem() if nvidia.driver_present() else None) or \
        "no usable NVIDIA GPU/driver was found"


@dataclass(frozen=True)
class Provider:
    """One execution provider and what the runtime needs to know about it."""

    device: str  # the --device name
    ort_name: str
    accelerator: bool  # paints at full resolution every frame, runs the full person net
    io_device: str | None = None  # OrtValue device the outputs are bound to (IO binding); None: plain run()
    in_auto: bool = True  # tried by --device auto
    fallback: str | None = None  # the device to try next when this one cannot start
    usable: Callable[[], bool] = lambda: True  # what the machine needs beyond ONNX Runtime's build (a driver)
    options: Callable[[], dict[str, str]] = field(default=dict)
    unavailable: Callable[[], str] | None = None  # why it was not even tried, when it was asked for
    start_help: Callable[[], str] | None = None  # what it needs, when ONNX Runtime fell back from it to the CPU

    def why_unavailable(self) -> str:
        return self.unavailable() if self.unavailable else f"this onnxruntime has no {self.ort_name}"


PROVIDERS: list[Provider] = [
    Provider("tensorrt", "TensorrtExecutionProvider", True, "cuda", fallback="cuda",
             usable=lambda: nvidia.driver_present(), options=_tensorrt_options,
             unavailable=_nvidia_unavailable, start_help=lambda: nvidia.cuda_help()),
    Provider("cuda", "CUDAExecutionProvider", True, "cuda", usable=lambda: nvidia.driver_present(),
             options=lambda: {"cudnn_conv_algo_search": "HEURISTIC", "do_copy_in_default_stream": "True"},
             unavailable=_nvidia_unavailable, start_help=lambda: nvidia.cuda_help()),
    Provider("directml", "DmlExecutionProvider", True),
    Provider("coreml", "CoreMLExecutionProvider", True),
    Provider("openvino", "OpenVINOExecutionProvider", False, in_auto=False),
    Provider("cpu", CPU, False, in_auto=False),
]
AUTO = "auto"


def devices() -> tuple[str, ...]:
    """Every --device choice: auto, then each provider's name."""
    return (AUTO, *(p.device for p in PROVIDERS))


def by_device(device: str) -> Provider:
    return next(p for p in PROVIDERS if p.device == device)


def by_ort_name(name: str) -> Provider | None:
    return next((p for p in PROVIDERS if p.ort_name == name), None)


def is_accelerator(ort_name: str) -> bool:
    """The one answer to "is this a GPU (or another accelerator)" for a session's provider."""
    p = by_ort_name(ort_name)
    return bool(p and p.accelerator)


def short(ort_name: str) -> str:
    """A provider's --device name ("CUDAExecutionProvider" -> "cuda")."""
    p = by_ort_name(ort_name)
    return p.device if p else ort_name.replace("ExecutionProvider", "").lower()


def wanted(device: str) -> list[Provider]:
    """What ``device`` asks for, best first, before checking this machine (the CPU is always the last resort)."""
    if device == AUTO:
        out = [p for p in PROVIDERS if p.in_auto]
    else:
        out, name = [], device
        while name and name != "cpu":
            p = by_device(name)
            out.append(p)
            name = p.fallback
    return out + [by_device("cpu")]


def available_ort_names() -> set[str]:
    import onnxruntime as ort

    return set(ort.get_available_providers())


def provider_chain(device: str) -> list[Provider]:
    """Providers to ask ONNX Runtime for, best first, limited to what this machine can really load."""
    have = available_ort_names()
    return [p for p in wanted(device) if p.ort_name == CPU or (p.ort_name in have and p.usable())]


def cpu_only() -> list[str]:
    """The provider list for sessions that must stay on the CPU (metadata reads, training-time tools)."""
    return [CPU]


def is_cpu(ort_name: str) -> bool:
    return ort_name == CPU

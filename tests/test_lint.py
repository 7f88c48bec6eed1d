import shutil
import subprocess

import pytest
from conftest import REPO


@pytest.mark.skipif(not shutil.which("ruff"), reason="ruff not installed (pip install -e '.[test]')")
def test_ruff_clean():
    r = subprocess.run(["ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_runtime_never_imports_torch():
    r = subprocess.run(["python", "-c", "import sys, realtime.cli, realtime.pipeline, realtime.bench, realtime.doctor, "
                        "realtime.live, realtime.render; assert 'torch' not in sys.modules"], cwd=REPO)
    assert r.returncode == 0

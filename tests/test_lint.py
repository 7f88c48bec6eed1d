import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

# the ruff installed with this interpreter's packages, also when its bin folder is not on PATH
RUFF = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(not RUFF, reason="ruff not installed (pip install -e '.[test]')")
def test_ruff_clean():
    r = subprocess.run([RUFF, "check", "."], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_runtime_never_imports_torch():
    r = subprocess.run([sys.executable, "-c", "import sys, realtime.cli, realtime.pipeline, realtime.bench, "
                        "realtime.doctor, realtime.live, realtime.render, realtime.window; "
                        "assert 'torch' not in sys.modules"], cwd=REPO)
    assert r.returncode == 0

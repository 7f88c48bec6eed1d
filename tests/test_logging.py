"""Messages go through Python's logging: rich's handler on stderr for the command (-v, -q), only a NullHandler for
programs that embed the filter."""
import json
import logging
import subprocess
import sys

import cv2
from conftest import REPO, logged, run_cli, synthetic_frames


def picture(tmp_path):
    path = tmp_path / "in.png"
    cv2.imwrite(str(path), synthetic_frames(1, 160, 96)[0])
    return path


def test_quiet_render_says_nothing_unless_something_is_wrong(tmp_path):
    src = picture(tmp_path)
    for args in (["-q", "render", str(src), "-o", str(tmp_path / "a.png")],
                 ["render", str(src), "-o", str(tmp_path / "b.png"), "--quiet"]):  # render's own, the same
        r = run_cli(*args, "--mode", "blur")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stderr
    folder = tmp_path / "folder"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), cv2.imread(str(src)))
    (folder / "b.png").write_bytes(b"not a png")
    r = run_cli("-q", "render", str(folder), "-o", str(tmp_path / "out"), "--mode", "blur")
    lines = r.stderr.splitlines()
    assert r.returncode == 1 and r.stdout == "" and len(lines) == 2, r.stderr  # warnings and errors stay
    assert lines[0].startswith("warning: skipped b.png") and lines[1].startswith("error: skipped 1 of 2 images")


def test_verbose_says_where_each_network_runs_one_line_each(tmp_path):
    out = tmp_path / ("a-folder-name-long-enough-to-wrap-at-forty-columns" * 2) / "out.png"
    out.parent.mkdir()
    r = run_cli("-v", "render", str(picture(tmp_path)), "-o", str(out), "--device", "cpu", "--threads", "1",
                env={"COLUMNS": "40"})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "debug: person-full.onnx (person-segmentation) on cpu, 1 thread" in lines, r.stderr  # render: the full net
    assert any(ln.startswith("debug: udnie") and "(style-transfer) on cpu, 1 thread" in ln for ln in lines)
    assert lines[-1] == f"wrote {out} (1 frame)"  # not wrapped at the terminal's width
    plain = run_cli("render", str(picture(tmp_path)), "-o", str(out), "--device", "cpu")
    assert plain.returncode == 0 and "debug:" not in plain.stderr, plain.stderr


def test_verbose_and_quiet_together_is_a_usage_error():
    r = run_cli("-v", "-q", "styles")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 2, r.stderr


EMBEDDER = """
import json, logging, sys
import numpy as np
import realtime, realtime.api, realtime.bench, realtime.doctor, realtime.live, realtime.pipeline, realtime.render

loggers = [logging.getLogger()] + [logging.getLogger(n) for n in logging.root.manager.loggerDict
                                   if n.split(".")[0] == "realtime"]
handlers = {lg.name: [type(h).__name__ for h in lg.handlers] for lg in loggers if lg.handlers}
caught = []

class Keep(logging.Handler):
    def emit(self, record):
        caught.append(record.name)

logging.basicConfig(level=logging.DEBUG, handlers=[Keep()])  # the program's own configuration: everything
said = {}
for how in ("as configured", "setLevel", "propagate"):
    if how == "setLevel":
        logging.getLogger("realtime").setLevel(logging.CRITICAL)
    if how == "propagate":
        logging.getLogger("realtime").setLevel(logging.NOTSET)
        logging.getLogger("realtime").propagate = False
    caught.clear()
    with realtime.Filter(mode="mask", device="cpu") as f:
        f(np.zeros((96, 160, 3), np.uint8))
    said[how] = [n for n in caught if n.startswith("realtime")]
print(json.dumps({"handlers": handlers, "said": said}))
"""


def test_a_program_embedding_the_filter_routes_or_silences_its_messages():
    r = subprocess.run([sys.executable, "-c", EMBEDDER], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["handlers"] == {"realtime": ["NullHandler"]}  # no handler of the library's own, not on the root
    said = got["said"]
    assert "realtime.inference" in said["as configured"]  # the program's handler gets the messages (here: debug)
    assert said["setLevel"] == [] and said["propagate"] == []
    assert r.stderr == ""  # and nothing reaches the terminal by other ways


def test_doctor_puts_the_session_note_in_its_report_not_on_stderr(caplog):
    from realtime.doctor import _into_report

    lines = []
    with _into_report(lines.append, "  "):
        logging.getLogger("realtime.inference").warning("cuda could not start")
    logging.getLogger("realtime.inference").warning("after the report")
    assert lines == ["  warning: cuda could not start"]
    assert logged(caplog) == ["after the report"]

"""`realtime styles`, `realtime doctor`, `realtime bench` (real runs, small sizes)."""
import json

from conftest import REPO, run_cli


def test_styles_table(tmp_path):
    r = run_cli("styles", env={"REALTIME_STYLES": str(tmp_path)})  # not the styles of whoever runs the tests
    assert r.returncode == 0
    for name in ("udnie", "starry_night", "the_scream", "great_wave", "composition_vii", "shipwreck_of_the_minotaur"):
        assert name in r.stdout
    assert "Picabia" in r.stdout and "1889" in r.stdout and not r.stderr


def test_styles_says_which_of_your_styles_a_shipped_one_hides(tmp_path):
    """A user's udnie.onnx (trained before such a name became my_udnie) is never used: `styles` says so and how to
    use it, once per network (an int8 twin goes with its float file; a person.onnx is hidden by the person network)."""
    net = (REPO / "models" / "weights" / "udnie.onnx").read_bytes()
    for name in ("udnie.onnx", "udnie-full.onnx", "udnie-full.int8.onnx", "person.onnx", "mine.onnx"):
        (tmp_path / name).write_bytes(net)
    r = run_cli("styles", env={"REALTIME_STYLES": str(tmp_path)})
    assert r.returncode == 0 and "mine" in r.stdout
    lines = r.stderr.strip().splitlines()
    assert [line.split(" is not used")[0].removeprefix("warning: ") for line in lines] == \
        [str(tmp_path / n) for n in ("person.onnx", "udnie-full.onnx", "udnie.onnx")]
    assert "of that name; rename it (e.g. to my_udnie-full.onnx, and its .int8 twin with it)" in lines[1]
    assert lines[2].endswith("rename it (e.g. to my_udnie.onnx) to use it")


def test_doctor_reports_everything():
    r = run_cli("doctor")
    assert r.returncode == 0, r.stderr
    for key in ("cameras:", "onnxruntime:", "providers built in", "session got:", "gpu:", "cuda:", "virtual cam:",
                "checksum ok", "person live:   on a CPU person"):
        assert key in r.stdout
    if "NOT AVAILABLE" in r.stdout:
        assert "modprobe v4l2loopback" in r.stdout or "OBS" in r.stdout
    rows = [line for line in r.stdout.splitlines() if " MB  checksum " in line]
    assert len(rows) >= 14 and len({line.index(" MB  checksum ") for line in rows}) == 1  # the columns line up


def test_bench_json_schema(tmp_path):
    out, md = tmp_path / "b.json", tmp_path / "b.md"
    r = run_cli("bench", "--sizes", "320x180", "--frames", "20", "--json", str(out), "--markdown", str(md),
                timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    row = report["results"][0]
    for key in ("width", "height", "frames", "fps", "latency_ms", "stages_ms", "provider", "cpu_percent",
                "peak_rss_mb"):
        assert key in row
    assert set(row["latency_ms"]) == {"p50", "p95", "p99"}
    assert {"preprocess", "segment", "mask", "plate", "composite", "sink"} <= set(row["stages_ms"])
    assert (row["person"] == {"file": "person", "input": [256, 144], "every": 1}  # as the CPU affords
            or (row["person"]["file"], row["person"]["every"]) == ("person-full", 2))
    assert row["mode"] == "style-background" and set(row["painter"]) == {"repaints", "ms_per_repaint",
                                                                         "repaints_per_s"}
    assert row["painter"]["ms_per_repaint"] > 0 and 0 < row["cpu_cores"] <= 2.5
    assert row["frames"] == 20 and row["fps"] > 0
    assert "| 320x180 |" in md.read_text()


def test_bench_measures_after_the_plates_first_whole_painting():
    """Live on a CPU the plate's first whole painting is made on the worker; the warm-up waits for it, so it is not
    counted, and its CPU time is not spent, while the live path is measured: on a still picture nothing is repainted
    in the measure."""
    import threading

    from conftest import synthetic_frames

    from realtime.bench import measure
    from realtime.config import Settings
    from realtime.pipeline import Pipeline

    p = Pipeline.from_settings(Settings(mode="style-background", device="cpu").validate(), live=True)
    try:
        row = measure(p, synthetic_frames(1, 160, 96) * 8, 60, threading.Event())  # half a second of frames
    finally:
        p.close()
    assert p.painter.threaded and p.painter.stats.repaints == 1
    assert row["painter"]["repaints"] == 0 and row["painter"]["ms_per_repaint"] > 0


def test_bench_takes_every_mode_the_cli_offers():
    r = run_cli("bench", "--sizes", "160x96", "--frames", "5", "--mode", "mask", timeout=300)
    assert r.returncode == 0, r.stderr


def test_bench_measures_a_config_files_settings_and_says_which(tmp_path):
    """--config: the file's settings are measured (flags win, checked together) and the report names those not at
    their defaults that the bench uses; never the user's own config file or REALTIME_OPT_* variables."""
    from realtime.paths import config_file

    config_file().parent.mkdir(parents=True, exist_ok=True)
    config_file().write_text("feather = 7\n")  # the user's own: not what the bench measures
    env = {"REALTIME_OPT_PLATE_SIZE": "1280"}
    conf, out = tmp_path / "call.toml", tmp_path / "b.json"
    # a mode that needs a picture, overridden by the flag; a camera size the bench does not use
    conf.write_text('mask-size = 384\nmode = "replace"\nfeather = 5\nwidth = 1280\nheight = 720\n')
    md = tmp_path / "b.md"
    r = run_cli("bench", "--sizes", "160x96", "--frames", "5", "--config", str(conf), "--mode", "mask",
                "--json", str(out), "--markdown", str(md), env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    row = json.loads(out.read_text())["results"][0]
    assert row["mode"] == "mask" and row["settings"] == {"mask_size": 384, "feather": 5}
    assert "mask-size 384, feather 5:" in r.stderr + r.stdout
    assert "Settings not at their defaults: mask-size 384, feather 5" in md.read_text()
    r = run_cli("bench", "--sizes", "160x96", "--frames", "5", "--mode", "mask", "--json", str(out), env=env,
                timeout=300)
    assert r.returncode == 0 and json.loads(out.read_text())["results"][0]["settings"] == {}
    conf.write_text("mask-size = 300\n")
    r = run_cli("bench", "--sizes", "160x96", "--frames", "5", "--config", str(conf), timeout=300)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "error: mask_size must be a multiple of 16 from 64 to 1024, got 300"]


def test_benchmark_script_is_the_same_command():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "benchmarks/fps.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0 and "--sizes" in r.stdout


def test_wheel_carries_the_weights_and_works_from_any_directory(tmp_path):
    """`pip install .` from a clone: the ONNX weights are package data; `realtime` runs outside the repo."""
    import subprocess
    import sys
    import zipfile

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"realtime/weights/person.onnx", "realtime/weights/udnie.onnx", "realtime/weights/manifest.json",
            "realtime/cli.py"} <= names
    assert "realtime/weights/udnie-full.int8.onnx" in names  # the plate's painter on a CPU
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "realtime", "styles"], cwd=elsewhere, capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0 and "udnie" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-c", "from realtime.models import resolve_style, person_model; "
                        "print(resolve_style('udnie')); print(person_model())"], cwd=elsewhere, capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.stdout.split() == [str(target / "realtime" / "weights" / n) for n in ("udnie.onnx", "person.onnx")]

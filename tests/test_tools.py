"""`realtime styles`, `realtime doctor`, `realtime bench` (real runs, small sizes)."""
import json

from conftest import REPO, run_cli


def test_styles_table():
    r = run_cli("styles")
    assert r.returncode == 0
    for name in ("udnie", "starry_night", "the_scream", "great_wave", "composition_vii", "shipwreck_of_the_minotaur"):
        assert name in r.stdout
    assert "Picabia" in r.stdout and "1889" in r.stdout


def test_doctor_reports_everything():
    r = run_cli("doctor")
    assert r.returncode == 0, r.stderr
    for key in ("cameras:", "onnxruntime:", "providers built in", "session got:", "gpu:", "virtual cam:", "sha256"):
        assert key in r.stdout
    if "NOT AVAILABLE" in r.stdout:
        assert "modprobe v4l2loopback" in r.stdout or "OBS" in r.stdout


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
    assert {"preprocess", "segment", "stylize", "composite", "sink"} <= set(row["stages_ms"])
    assert row["frames"] == 20 and row["fps"] > 0
    assert "| 320x180 |" in md.read_text()


def test_benchmark_script_is_the_same_command():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "benchmarks/fps.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0 and "--sizes" in r.stdout

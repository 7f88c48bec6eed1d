"""The shipped models and the ONNX contract check."""
import logging
import re
import warnings
from pathlib import Path

import conftest
import cv2
import numpy as np
import pytest
from conftest import SHARED, logged, needs_shared, onnx_model, synthetic_frames

from realtime.errors import RealtimeError
from realtime.inference import open_session
from realtime.models import list_styles, person_model, read_info, resolve_style
from realtime.providers import provider_chain

SHIPPED_STYLES = {"udnie", "starry_night", "the_scream", "great_wave", "composition_vii", "shipwreck_of_the_minotaur"}


def test_person_model_is_shipped_with_metadata():
    info = read_info(person_model())
    assert info.metadata["kind"] == "person-segmentation"
    assert info.size_mb <= 5
    sess = open_session(person_model(), "person-segmentation", "cpu", 1)
    out = sess.run(np.random.default_rng(0).random((1, 3, 144, 256), dtype=np.float32))
    assert out.shape == (1, 1, 144, 256) and 0 <= out.min() and out.max() <= 1


def test_six_styles_shipped_with_painting_metadata():
    styles = {s.name: s for s in list_styles()}
    assert SHIPPED_STYLES <= set(styles)
    for name in SHIPPED_STYLES:
        m = styles[name].metadata
        assert m["kind"] == "style-transfer" and m["architecture"] == "fast"
        assert m["painting"] and m["artist"] and m["year"] and m["training"]
    assert styles["udnie-full"].metadata["architecture"] == "full"
    total = sum(p.stat().st_size for p in resolve_style("udnie").parent.glob("*.onnx")) / 2**20
    assert total < 60, f"shipped weights take {total:.1f} MB"  # the style-network issue's budget, twins included


LATTICE_LIMIT = 4.0  # the teacher's paintings of the wall measure 2.2-2.4, the wall itself 2.3
# every shipped network passes: the full nets since their fixes (udnie-full since its noise field is smoothed, the
# others since the decoder's blurred upsampling, 2026-12-05 evening and night: 2.4-3.4 here), the fast nets since
# they were fine-tuned with the blurred upsampling, a noise field and a full-resolution skip (2026-12-05 night: 1.5-2.5
# at 320x180)


def shipped_style_files() -> list[str]:
    """Every shipped style network, int8 twins included (they paint the plate on a CPU)."""
    from realtime.models import is_person_model

    return sorted(p.name.removesuffix(".onnx") for p in resolve_style("udnie").parent.glob("*.onnx")
                  if not is_person_model(p))


def painted_size(name: str) -> tuple[int, int]:
    """The size a shipped network paints a 640x360 frame at: a full net (the plate; render; every frame on a GPU)
    the whole frame, a fast net (per frame on a CPU) about 320x180, enlarged after; measured enlarged, its 4 px
    grid would be wider than the lattice measure's."""
    from realtime.models import FULL
    from realtime.stylize import auto_scale, style_size

    return (640, 360) if FULL in name else style_size(640, 360, auto_scale(640, 360, accelerated=False))


@pytest.mark.parametrize("name", shipped_style_files())
def test_shipped_styles_paint_a_flat_wall_without_a_lattice(name):
    """A repeated pattern on the network's 4-pixel grid (strokes laid out as a diagonal lattice) shows as a peak in
    the spectrum of a painted flat wall: every shipped network must stay under the limit at the size it paints."""
    from export.style_metrics import flat_wall, lattice, paint_wall

    painted = paint_wall(resolve_style("udnie").parent / f"{name}.onnx", flat_wall(*painted_size(name)))
    assert lattice(painted) < LATTICE_LIMIT


LEGIBLE = 0.24  # on these frames: the fast nets shipped 0.27-0.50; starry_night's swirls over the person 0.20


@pytest.fixture(scope="module")
def webcam_people():
    """Five webcam frames and where the person is in each (None where the person net finds nobody)."""
    from export.evaluate_style import clip_frames, person_masks

    frames = [clip_frames(c, 30)[-1] for c in sorted((SHARED / "video" / "webcam_clips").glob("*.mkv"))[:5]]
    return frames, person_masks(frames)


@needs_shared("video/webcam_clips")
@pytest.mark.parametrize("name", sorted(SHIPPED_STYLES))
def test_shipped_fast_nets_keep_the_person_legible(name, webcam_people):
    """In style-all the person is painted too, but must stay recognisable: inside the person, the painting (as a
    CPU paints it live) keeps enough of the frame's own edges (face, hands, a shirt's print). A fast net whose
    strokes covered the person (starry_night's, withdrawn on 2026-12-05) measured 0.20 here."""
    from export.evaluate_style import RUNTIME_SCALE, StyleStage
    from export.style_metrics import legibility

    paint = StyleStage(name, RUNTIME_SCALE, 0.0)
    kept = [legibility(paint(f), f, m) for f, m in zip(*webcam_people, strict=True) if m is not None]
    assert len(kept) >= 4 and np.mean(kept) > LEGIBLE


@pytest.mark.parametrize("h, w", [(180, 320), (97, 131), (16, 16)])
def test_style_runs_at_any_size(h, w):
    sess = open_session(resolve_style("udnie"), "style-transfer", "cpu", 1)
    out = sess.run(np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32))
    assert out.shape == (1, 3, h, w) and 0 <= out.min() and out.max() <= 1


def test_unknown_style_lists_the_available_ones():
    with pytest.raises(RealtimeError, match=r"unknown style 'picasso'; available styles: .*udnie"):
        resolve_style("picasso")


def test_corrupt_onnx_is_rejected(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(RealtimeError, match="not a valid ONNX model"):
        open_session(bad, "style-transfer", "cpu")


def test_wrong_inputs_outputs_are_rejected(tmp_path):
    wrong = onnx_model(tmp_path / "wrong.onnx", "input", "output", 3)
    with pytest.raises(RealtimeError, match="is not a style-transfer model: expected one input 'image'"):
        open_session(wrong, "style-transfer", "cpu")
    seg_as_style = onnx_model(tmp_path / "seg.onnx", "image", "mask", 1)
    with pytest.raises(RealtimeError, match="expected one output 'stylized'"):
        open_session(seg_as_style, "style-transfer", "cpu")
    ok = onnx_model(tmp_path / "ok.onnx", "image", "stylized", 3)
    assert open_session(ok, "style-transfer", "cpu").provider == "CPUExecutionProvider"


def test_style_by_path(tmp_path):
    ok = onnx_model(tmp_path / "mine.onnx", "image", "stylized", 3)
    assert resolve_style(str(ok)) == ok
    with pytest.raises(RealtimeError, match="style model not found"):
        resolve_style(str(tmp_path / "missing.onnx"))


def test_user_styles_dir_is_listed(tmp_path, monkeypatch):
    monkeypatch.setenv("REALTIME_STYLES", str(tmp_path))
    onnx_model(tmp_path / "my_painting.onnx", "image", "stylized", 3)
    assert "my_painting" in {s.name for s in list_styles()}
    assert resolve_style("my_painting") == tmp_path / "my_painting.onnx"


def test_a_name_is_shipped_when_either_of_a_styles_networks_ships(tmp_path, monkeypatch):
    """``--style foo`` takes foo.onnx for the frames and foo-full.onnx for the plate, shipped ones first: a user's foo
    beside a shipped foo-full would be painted beside another painting, so either file takes the name."""
    from realtime.models import check_not_shipped, ships, style_name_from

    monkeypatch.setenv("REALTIME_MODELS", str(tmp_path))
    onnx_model(tmp_path / "foo-full.onnx", "image", "stylized", 3)
    onnx_model(tmp_path / "bar.onnx", "image", "stylized", 3)
    assert ships("foo") and ships("bar") and ships("person") and not ships("baz")
    assert style_name_from(Path("foo.jpg")) == "my_foo" and style_name_from(Path("baz.jpg")) == "baz"
    with pytest.raises(ValueError, match="realtime ships a network called 'bar'"):
        check_not_shipped("bar")


def test_a_renamed_style_file_is_listed_under_the_name_that_resolves(tmp_path, monkeypatch):
    monkeypatch.setenv("REALTIME_STYLES", str(tmp_path))
    onnx_model(tmp_path / "renamed.onnx", "image", "stylized", 3, {"kind": "style-transfer", "name": "original"})
    names = {s.name for s in list_styles()}
    assert "renamed" in names and "original" not in names
    assert resolve_style("renamed") == tmp_path / "renamed.onnx"


def test_no_gpu_means_cpu_only_chain():
    # this machine (and CI) has no NVIDIA driver: CUDA/TensorRT must not even be asked for
    from realtime.nvidia import driver_present

    if driver_present():
        pytest.skip("an NVIDIA driver is present")
    assert [p.ort_name for p in provider_chain("auto")] == ["CPUExecutionProvider"]
    assert [p.ort_name for p in provider_chain("tensorrt")] == ["CPUExecutionProvider"]


def test_a_provider_outside_nvidias_is_one_table_entry(monkeypatch):
    """With a faked list of what ONNX Runtime offers: a listed non-NVIDIA provider is chosen when asked for, and a
    new entry in the table is chosen by --device auto, a --device choice, and an accelerator."""
    import dataclasses

    import onnxruntime as ort

    from realtime import providers
    from realtime.config import Settings

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["OpenVINOExecutionProvider", "CPUExecutionProvider"])
    assert [p.device for p in provider_chain("openvino")] == ["openvino", "cpu"]
    assert [p.device for p in provider_chain("auto")] == ["cpu"]  # OpenVINO is asked for by name only
    new = providers.Provider("npu", "NpuExecutionProvider", accelerator=True)
    monkeypatch.setattr(providers, "PROVIDERS", [new, *providers.PROVIDERS])
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["NpuExecutionProvider", "CPUExecutionProvider"])
    assert [p.device for p in provider_chain("auto")] == ["npu", "cpu"]
    assert "npu" in providers.devices() and Settings(device="npu").validate().device == "npu"
    assert providers.is_accelerator("NpuExecutionProvider") and not providers.is_accelerator("CPUExecutionProvider")
    assert dataclasses.replace(new, accelerator=False).accelerator is False


def test_gpu_fallbacks_name_the_fix(monkeypatch, caplog):
    """With a driver but a CPU-only ONNX Runtime, or a CUDA provider that cannot start, the one line says why."""
    import importlib.metadata

    import onnxruntime as ort

    from realtime import inference, nvidia

    monkeypatch.setattr(nvidia, "driver_present", lambda: True)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    version = importlib.metadata.version
    for gpu_package, expected in ((True, "--force-reinstall --no-deps onnxruntime-gpu"),
                                  (False, "CPU-only package: pip install onnxruntime-gpu")):
        def fake_version(name, gpu_package=gpu_package):
            if name == "onnxruntime-gpu" and not gpu_package:
                raise importlib.metadata.PackageNotFoundError(name)
            return version(name) if name != "onnxruntime-gpu" else "1.31.1"
        monkeypatch.setattr(importlib.metadata, "version", fake_version)
        inference._said.clear()
        caplog.clear()
        s = open_session(person_model(), "person-segmentation", "cuda", 1)
        lines = logged(caplog, logging.WARNING)
        assert s.provider == "CPUExecutionProvider"
        assert len(lines) == 1 and expected in lines[0] and "running on the CPU" in lines[0]
    # the provider is offered but cannot start (here: this ONNX Runtime has no CUDA build): CUDA libraries named
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(nvidia, "preload_cuda_libraries", lambda: [])
    monkeypatch.setattr(nvidia, "cuda_build", lambda: "13")
    inference._said.clear()
    caplog.clear()
    with warnings.catch_warnings():  # a CPU-only ONNX Runtime warns that it has no CUDA; its GPU build does not
        warnings.simplefilter("ignore", UserWarning)
        s = open_session(person_model(), "person-segmentation", "cuda", 1)
    lines = logged(caplog, logging.WARNING)
    assert s.provider == "CPUExecutionProvider"
    assert len(lines) == 1 and "could not start" in lines[0] and "CUDA 13 and cuDNN 9" in lines[0]


def test_doctor_cuda_line(monkeypatch):
    import onnxruntime as ort

    from realtime import nvidia

    monkeypatch.setattr(nvidia, "cuda_build", lambda: "13")
    monkeypatch.setattr(nvidia, "driver_present", lambda: False)
    monkeypatch.setattr(nvidia, "gpu_package_problem", lambda: "this onnxruntime is the CPU-only package: ...")
    assert nvidia.cuda_status() == "no NVIDIA driver, so not tried (onnxruntime-gpu built for CUDA 13)"
    monkeypatch.setattr(nvidia, "driver_present", lambda: True)
    assert nvidia.cuda_status().startswith("not usable: this onnxruntime is the CPU-only package")
    monkeypatch.setattr(nvidia, "gpu_package_problem", lambda: None)
    monkeypatch.setattr(nvidia, "preload_cuda_libraries", lambda: [])
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    loads = {"libcudart.so.13", "libcublas.so.13"}

    def cdll(name):
        if name not in loads:
            raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(nvidia.sys, "platform", "linux")
    monkeypatch.setattr(nvidia.ctypes, "CDLL", cdll)
    line = nvidia.cuda_status()
    assert line.startswith("onnxruntime-gpu built for CUDA 13; libraries missing: libcudnn.so.9 (pip install")
    loads.add("libcudnn.so.9")
    assert nvidia.cuda_status() == "onnxruntime-gpu built for CUDA 13; libraries load"


def test_cuda_libraries_from_pip_wheels_are_preloaded_quietly(monkeypatch, tmp_path, capsys):
    """The `cuda` extra's NVIDIA wheels are loaded through ONNX Runtime's preload_dlls, its messages kept, the
    libraries that failed returned once; without those wheels it is not called at all."""
    import onnxruntime as ort

    from realtime import nvidia

    calls = []

    def fake_preload():
        calls.append(1)
        print("Failed to load /venv/site-packages/nvidia/cu13/lib/libcudart.so.13: cannot open shared object")
        print("Failed to load libcudart.so.13: libcudart.so.13: cannot open shared object file")
        print("Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install CUDA.")

    monkeypatch.setattr(ort, "preload_dlls", fake_preload, raising=False)
    monkeypatch.setattr(nvidia, "_preload_failed", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert nvidia.preload_cuda_libraries() == []  # no nvidia wheels installed: not called
    assert calls == []
    (tmp_path / "nvidia").mkdir()  # a namespace package, as NVIDIA's wheels install
    monkeypatch.setattr(nvidia, "_preload_failed", None)
    assert nvidia.preload_cuda_libraries() == ["libcudart.so.13"]
    assert nvidia.preload_cuda_libraries() == ["libcudart.so.13"] and calls == [1]  # once per process
    assert capsys.readouterr().out == ""


def test_cuda_build_read_from_the_gpu_package(monkeypatch):
    import importlib.metadata

    import onnxruntime as ort

    from realtime import nvidia

    monkeypatch.setattr(ort, "cuda_version", "", raising=False)
    for requires, major in ((["nvidia-cuda-runtime~=13.0; extra == \"cuda\""], "13"),
                            (["nvidia-cuda-runtime-cu12~=12.0; extra == \"cuda\""], "12"), ([], "")):
        monkeypatch.setattr(importlib.metadata, "requires", lambda name, r=requires: r)
        assert nvidia.cuda_build() == major
    monkeypatch.setattr(ort, "cuda_version", "13.0", raising=False)
    assert nvidia.cuda_build() == "13"


def test_person_net_is_fed_the_size_its_file_names_and_not_flipped_unless_asked(caplog):
    from pathlib import Path

    from realtime.segment import PersonSegmenter

    class GpuSession:  # what the defaults look at: where it runs and the file's metadata
        accelerated = True
        path = Path("mine.onnx")

        def __init__(self, metadata):
            self.metadata = metadata

    seg = PersonSegmenter(GpuSession({"input_size": "[384, 224]"}))
    assert (seg.long_side, seg.flip) == (384, False)  # flip's softer edge costs the room beside the person
    assert PersonSegmenter(GpuSession({})).long_side == 256  # a file that does not say
    assert (PersonSegmenter(GpuSession({}), 320, True).long_side, PersonSegmenter(GpuSession({}), 320, True).flip) == (
        320, True)
    for bad in ("384", "[300, 170]", "not json"):
        assert PersonSegmenter(GpuSession({"input_size": bad})).long_side == 256
    assert logged(caplog, logging.WARNING)[-1].startswith("mine.onnx: input_size")


def test_cuda_request_without_gpu_says_so_in_one_line(caplog):
    from realtime.nvidia import driver_present

    if driver_present():
        pytest.skip("an NVIDIA driver is present")
    from realtime import inference

    inference._said.clear()
    s = open_session(person_model(), "person-segmentation", "cuda", 1)
    open_session(resolve_style("udnie"), "style-transfer", "cuda", 1)
    assert s.provider == "CPUExecutionProvider"
    lines = logged(caplog, logging.WARNING)
    assert len(lines) == 1 and "no usable NVIDIA GPU" in lines[0]


def _room_like_frame(w: int = 320, h: int = 180) -> np.ndarray:
    """A synthetic webcam-like frame: a lit wall gradient, a door, a shelf, sensor noise."""
    rng = np.random.default_rng(1)
    wall = np.broadcast_to(150 + 60 * np.linspace(0, 1, w, dtype=np.float32), (h, w))
    frame = np.dstack([wall] * 3)
    frame[20:170, 200:260] = (40, 70, 120)
    frame[120:135, 10:150] = (30, 30, 30)
    frame += rng.normal(0, 4, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def test_flip_averaged_mask_treats_a_mirrored_frame_as_the_mirror_image(tmp_path):
    """mask-flip: the frame and its mirror image in one batch of two, averaged; off unless asked."""
    from realtime.config import Settings
    from realtime.pipeline import Pipeline
    from realtime.segment import PersonSegmenter

    session = open_session(person_model(), "person-segmentation", "cpu", 1)
    # the network's own size (no resize in between); noise, on which the net is unsure and so not mirror-symmetric
    # (a room with a block-shaped "figure" in it is called background everywhere, as it should be)
    frame = np.random.default_rng(0).integers(0, 256, (144, 256, 3), dtype=np.uint8)
    plain, flipped = PersonSegmenter(session), PersonSegmenter(session, flip=True)
    assert (plain.long_side, plain.flip) == (256, False) and flipped.flip  # the defaults
    m, mirrored = flipped(frame), flipped(np.ascontiguousarray(frame[:, ::-1]))
    assert m.shape == (144, 256) and m.dtype == np.float32
    assert np.abs(m[:, ::-1] - mirrored).max() < 1e-5
    one_way = np.abs(plain(frame)[:, ::-1] - plain(np.ascontiguousarray(frame[:, ::-1]))).max()
    assert one_way > 1e-3  # the network alone is not mirror-symmetric, so the check above means something
    assert np.abs(m - 0.5 * (plain(frame) + plain(np.ascontiguousarray(frame[:, ::-1]))[:, ::-1])).max() < 1e-5
    pipe = Pipeline.from_settings(Settings(mode="mask", device="cpu", mask_flip=True, mask_size=320).validate())
    assert pipe.segmenter.flip and pipe.segmenter.long_side == 320
    assert pipe.segmenter(np.zeros((360, 640, 3), np.uint8)).shape == (176, 320)
    with pytest.raises(RealtimeError, match="mask_size must be a multiple of 16"):
        Settings(mask_size=300).validate()
    assert not Pipeline.from_settings(Settings(mode="mask", device="cpu").validate()).segmenter.flip
    from realtime.config import build_settings

    (tmp_path / "c.toml").write_text("mask-flip = true\n")
    assert build_settings(tmp_path / "c.toml", {}).mask_flip is True
    (tmp_path / "c.toml").write_text('mask-flip = "yes"\n')
    with pytest.raises(RealtimeError, match="mask-flip should be bool"):
        build_settings(tmp_path / "c.toml", {})


def test_render_and_a_gpu_run_the_full_person_net_live_on_a_cpu_the_small_one(monkeypatch, tmp_path):
    """person-full.onnx (fed 384) where time allows, as the styles' full nets; person.onnx (256) live on a CPU,
    also when a GPU was expected but did not start; without a full net, the one there is everywhere."""
    import shutil

    from realtime.config import Settings
    from realtime.inference import Session
    from realtime.pipeline import Pipeline

    def loaded(live, mask_size=None):
        pipe = Pipeline.from_settings(Settings(mode="mask", device="cpu", mask_size=mask_size).validate(), live=live)
        try:
            return pipe.segmenter.session.path.name, pipe.segmenter.long_side
        finally:
            pipe.close()

    assert person_model(best=True).name == "person-full.onnx"
    with monkeypatch.context() as m:  # live on a GPU: the device's best provider an accelerator, and so the session
        m.setattr(Pipeline, "_frame_best", lambda self: True)
        m.setattr(Session, "accelerated", property(lambda self: True))
        assert loaded(live=True) == ("person-full.onnx", 384)
    assert not {"person", "person-full"} & {s.name for s in list_styles()}  # never offered as a style
    assert loaded(live=False) == ("person-full.onnx", 384)
    assert loaded(live=True) == ("person.onnx", 256)
    monkeypatch.setattr(Pipeline, "_frame_best", lambda self: True)  # as if a GPU were there, but it runs on the CPU
    assert loaded(live=True) == ("person.onnx", 256)
    assert loaded(live=True, mask_size=320) == ("person.onnx", 320)  # a tie: what a CPU runs live
    assert loaded(live=True, mask_size=384) == ("person-full.onnx", 384)  # asked for: kept on the CPU
    monkeypatch.undo()
    shutil.copy(person_model(), tmp_path / "person.onnx")
    monkeypatch.setenv("REALTIME_MODELS", str(tmp_path))
    assert person_model(best=True) == tmp_path / "person.onnx"
    assert loaded(live=False) == ("person.onnx", 256)


def test_live_on_a_cpu_that_affords_it_the_full_person_net_runs_on_every_other_frame(monkeypatch):
    """Live on a CPU the full file runs, fed the largest input whose call fits a quarter of a core at its stride (every
    other frame, or the stride set), timed once at start; a CPU too slow for any runs the small file on every frame
    that moves; a mask-size set picks by size and times nothing."""
    from realtime import segment
    from realtime.config import Settings
    from realtime.pipeline import Pipeline

    asked = []

    def fit(size):
        return lambda session, every, flip: asked.append((session.path.name, every, flip)) or (size, {})

    def loaded(**kw):
        pipe = Pipeline.from_settings(Settings(mode="mask", device="cpu", **kw).validate(), live=True)
        try:
            seg = pipe.segmenter
            return seg.session.path.name, seg.long_side, pipe.mask_every, pipe.describe((640, 360))
        finally:
            pipe.close()

    monkeypatch.setattr(segment, "full_net_fit", fit(384))
    name, size, every, line = loaded()
    assert (name, size, every) == ("person-full.onnx", 384, 2) and asked == [("person-full.onnx", 2, False)]
    assert "person model person-full at 384x224 on cpu, every other frame" in line
    assert loaded(mask_every=1, mask_flip=True)[:3] == ("person-full.onnx", 384, 1)
    assert asked[-1] == ("person-full.onnx", 1, True)  # its budget: every frame, two images a call
    monkeypatch.setattr(segment, "full_net_fit", fit(352))
    name, size, every, line = loaded()
    assert (name, size, every) == ("person-full.onnx", 352, 2) and "person-full at 352x192 on cpu, every other" in line
    asked.clear()
    assert loaded(mask_size=256)[:3] == ("person.onnx", 256, 1) and not asked
    assert loaded(threads=2)[:3] == ("person.onnx", 256, 1) and not asked  # on two threads a call's time is not CPU
    monkeypatch.setattr(segment, "full_net_fit", fit(None))
    name, size, every, line = loaded()
    assert (name, size, every) == ("person.onnx", 256, 1) and line.endswith("person model person at 256x144 on cpu")
    name, size, every, line = loaded(mask_every=3)
    assert (name, size, every) == ("person.onnx", 256, 3) and line.endswith("at 256x144 on cpu, every 3rd frame")


def test_the_full_person_nets_input_on_a_cpu_is_the_largest_whose_timed_call_fits(monkeypatch):
    """One call (this thread's CPU time, the median of five a camera frame apart after a warm-up) within a quarter
    of a core at 30 fps over the stride: 16.7 ms on every other frame, 8.3 on every frame; 384 tried first, then 352,
    then 320 (a fake clock: each call takes what the list says for the input it is given; one slow call among five
    does not decide; the waits between calls are a frame each and are not counted)."""
    from realtime import segment

    monkeypatch.setattr(segment, "full_net_fit", conftest.REAL_FULL_NET_FIT)  # the real judgement, not the stand-in
    clock, events = [0.0], []

    def wait(s):  # a camera frame between calls; a whole second on the clock, so one inside a timed call would show
        events.append(s)
        clock[0] += 1.0

    monkeypatch.setattr(segment, "call_clock", lambda: clock[0])
    monkeypatch.setattr(segment.time, "sleep", wait)

    class Timed:
        def __init__(self, ms):  # input width -> the times of its calls
            self.ms = {w: iter(t) for w, t in ms.items()}

        def run(self, x):
            events.append("run")
            clock[0] += next(self.ms[x.shape[3]]) / 1000

        def warm_up(self, shape):  # as Session.warm_up: one call
            self.run(np.zeros(shape, np.float32))

    def fit(session, every):
        size, times = segment.full_net_fit(session, every)
        return size, {w: round(ms, 6) for w, ms in times.items()}

    assert fit(Timed({384: [50, 16, 16.5, 90, 15, 16]}), 2) == (384, {384: 16.0})  # the first call: a warm-up
    assert events == ["run"] + [1 / 30, "run"] * 5  # the warm-up, then a camera frame before each timed call
    size, times = fit(Timed({384: [5, 17, 17, 2, 17, 2], 352: [9, 14, 15, 14, 30, 14]}), 2)
    assert (size, times) == (352, {384: 17.0, 352: 14.0})
    slow = {384: [25] * 6, 352: [20] * 6, 320: [17] * 6}
    assert fit(Timed(slow), 2) == (None, {384: 25.0, 352: 20.0, 320: 17.0})
    assert fit(Timed({384: [5, 12, 12, 12, 12, 12], 352: [9] * 6, 320: [8] * 6}), 1) == (320, {384: 12, 352: 9, 320: 8})
    assert fit(Timed({384: [5, 12, 12, 12, 12, 12]}), 3) == (384, {384: 12.0})


@pytest.mark.parametrize("size, live, expected", [(384, True, "person-full.onnx"), (352, True, "person-full.onnx"),
                                                   (320, True, "person.onnx"), (288, True, "person.onnx"),
                                                   (256, False, "person.onnx"), (320, False, "person-full.onnx"),
                                                   (512, False, "person-full.onnx")])
def test_a_mask_size_asked_for_takes_the_person_net_made_for_the_nearest_size(size, live, expected):
    """mask-size picks the file whose own size (its metadata's input_size: 256 and 384) is nearest, wherever it runs
    (on a tie the file for where it runs): live on a CPU, 384 is the finer net's; in render, 256 the small one's."""
    from realtime.config import Settings
    from realtime.pipeline import Pipeline
    from realtime.segment import model_size

    pipe = Pipeline.from_settings(Settings(mode="mask", device="cpu", mask_size=size).validate(), live=live)
    try:
        assert (pipe.segmenter.session.path.name, pipe.segmenter.long_side) == (expected, size)
        w, h = model_size(640, 480, size)  # a 4:3 frame: as many pixels as the 16:9 width says
        assert f"person model {expected.removesuffix('.onnx')} at {w}x{h} on cpu" in pipe.describe((640, 480))
    finally:
        pipe.close()


def test_stylizer_paints_a_mirrored_margin_and_cuts_it_off():
    import cv2

    from realtime.stylize import EDGE_PAD, Stylizer

    class Echo:  # a "network" that paints what it sees
        accelerated = False

        def run(self, blob):
            self.seen = blob
            return blob

    frame = _room_like_frame(64, 48)
    echo = Echo()
    out = Stylizer(echo, scale=1.0)(frame)
    assert echo.seen.shape == (1, 3, 48 + 2 * EDGE_PAD, 64 + 2 * EDGE_PAD) and EDGE_PAD >= 8
    seen = cv2.cvtColor((echo.seen[0].transpose(1, 2, 0) * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)
    assert np.array_equal(seen, cv2.copyMakeBorder(frame, *[EDGE_PAD] * 4, cv2.BORDER_REFLECT_101))
    assert np.abs(out.astype(int) - frame).max() <= 1  # cut back exactly to the frame, nothing shifted
    # scaled down for speed, the margin comes out of the same pixel budget: the net sees style_size() pixels
    big = cv2.resize(frame, (128, 96))
    assert Stylizer(echo, scale=0.5)(big).shape == big.shape and echo.seen.shape == (1, 3, 48, 64)


def test_stylizer_enlarges_the_painting_without_blurring_its_strokes_away():
    """Painted at half size on a CPU, the painting is enlarged bicubic: sharper than bilinear (more of the strokes)."""
    import cv2

    from realtime.stylize import EDGE_PAD, Stylizer

    class Echo:
        accelerated = False

        def run(self, blob):
            return blob

    rng = np.random.default_rng(0)
    frame = cv2.resize(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), (320, 240), interpolation=cv2.INTER_NEAREST)
    out = Stylizer(Echo(), scale=0.5)(frame)
    small = cv2.resize(frame, (160 - 2 * EDGE_PAD, 120 - 2 * EDGE_PAD), interpolation=cv2.INTER_LINEAR)  # net view
    bilinear = cv2.resize(small, (320, 240), interpolation=cv2.INTER_LINEAR)

    def sharpness(img):
        return np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)).mean()

    assert out.shape == frame.shape and sharpness(out) > 1.15 * sharpness(bilinear)


def test_stylizer_paints_the_frame_edges_like_the_inside():
    """Without the margin the nets' zero padding draws a line along the frame's edges (shipped udnie)."""
    import cv2

    from realtime.stylize import Stylizer

    sess = open_session(resolve_style("udnie"), "style-transfer", "cpu", 1)
    frame = _room_like_frame()

    def paint(img, pad):  # the network alone, optionally with a mirrored margin cut off again
        x = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        out = sess.run(cv2.dnn.blobFromImage(x, 1 / 255, swapRB=True))[0].transpose(1, 2, 0)[..., ::-1]
        return out[pad:pad + img.shape[0], pad:pad + img.shape[1]] * 255

    reference = paint(frame, 32)  # far from any border effect
    edge = np.ones(frame.shape[:2], bool)
    edge[3:-3, 3:-3] = False
    bare = np.abs(paint(frame, 0) - reference)[edge].mean()
    ours = np.abs(Stylizer(sess, scale=1.0)(frame).astype(np.float32) - reference)[edge].mean()
    assert ours < 0.75 * bare, (ours, bare)  # 0.15 measured with the shipped udnie (16 px margin)


def test_the_manifest_holds_the_shipped_files_checksums():
    """A retrained model shipped without `python -m export.manifest` fails here (doctor would call it changed)."""
    from export.manifest import WEIGHTS, checksums
    from realtime.models import manifest

    assert manifest(WEIGHTS) == checksums() and "person.onnx" in checksums()


def test_doctor_names_a_model_file_that_is_not_what_was_shipped(tmp_path, monkeypatch):
    import json
    import shutil

    from export.manifest import WEIGHTS
    from realtime.models import MANIFEST, checksum_status, read_info

    for name in ("person.onnx", "udnie.onnx"):
        shutil.copy(WEIGHTS / name, tmp_path / name)
    shipped = json.loads((WEIGHTS / MANIFEST).read_text())
    (tmp_path / MANIFEST).write_text(json.dumps({"person.onnx": shipped["person.onnx"], "udnie.onnx": "0" * 64}))
    monkeypatch.setenv("REALTIME_MODELS", str(tmp_path))
    assert checksum_status(read_info(tmp_path / "person.onnx")) == "ok"
    # the file's own checksum, then the manifest's
    assert checksum_status(read_info(tmp_path / "udnie.onnx")).startswith(
        f"CHANGED: sha256 {shipped['udnie.onnx'][:16]}, shipped {'0' * 16}")
    mine = onnx_model(tmp_path / "mine.onnx", "image", "stylized", 3)
    assert checksum_status(read_info(mine)).startswith("not shipped")


def test_style_names_the_painting_and_the_runtime_picks_the_network(tmp_path, monkeypatch):
    """``--style mine``: the fast net paints frames live on a CPU; the plate and ``render`` take mine-full where it
    is installed, the named file otherwise; a file path or an explicit -full name is taken as it is."""
    from realtime.config import Settings
    from realtime.pipeline import Pipeline

    monkeypatch.setenv("REALTIME_STYLES", str(tmp_path))
    fast = onnx_model(tmp_path / "mine.onnx", "image", "stylized", 3)
    full = onnx_model(tmp_path / "mine-full.onnx", "image", "stylized", 3)
    only = onnx_model(tmp_path / "solo.onnx", "image", "stylized", 3)
    assert resolve_style("mine") == fast and resolve_style("mine", best=True) == full
    assert resolve_style("mine-full") == full and resolve_style("mine-full", best=True) == full
    assert resolve_style("solo", best=True) == only and resolve_style(str(fast), best=True) == fast

    def files(mode: str, live: bool) -> tuple:
        p = Pipeline.from_settings(Settings(style="mine", mode=mode, device="cpu"), live=live)
        try:
            return tuple(x.session.path if x else None for x in (p.stylizer, p.plate_stylizer))
        finally:
            p.close()

    assert files("style-background", live=True) == (None, full)  # the plate
    assert files("style-all", live=True) == (fast, None)  # every frame, live on a CPU
    assert files("style-all", live=False) == (full, None)  # render

    from realtime.models import QUANTIZED_FROM, file_sha256, twin_path

    twin = onnx_model(twin_path(full), "image", "stylized", 3, {QUANTIZED_FROM: file_sha256(full)})
    assert "mine-full.int8" not in {s.name for s in list_styles()}  # a twin is not a style of its own
    assert resolve_style("mine", best=True, int8=True) == twin and resolve_style("mine", best=True) == full
    assert resolve_style("solo", best=True, int8=True) == only
    assert files("style-background", live=True) == (None, twin)  # the plate live on a CPU: the int8 twin
    assert files("style-background", live=False) == (None, full)  # render: the float network
    assert files("style-all", live=False) == (full, None)

    onnx_model(twin_path(full), "image", "stylized", 3, {QUANTIZED_FROM: "an older mine-full"})
    assert resolve_style("mine", best=True, int8=True) == full  # a stale twin is passed over


def test_every_shipped_network_names_itself_as_its_file_does():
    """The metadata's ``name`` is the file's (``network_name``): a file renamed when it shipped says so too."""
    from realtime.models import network_name

    for f in resolve_style("udnie").parent.glob("*.onnx"):
        assert read_info(f).metadata["name"] == network_name(f), f.name


def test_the_shipped_twins_were_made_from_the_shipped_networks():
    from realtime.models import QUANTIZED_FROM, file_sha256, is_twin, twin_path

    files = list(resolve_style("udnie").parent.glob("*.onnx"))
    pairs = [(f, twin_path(f)) for f in files if not is_twin(f) and twin_path(f).is_file()]
    assert len(pairs) == sum(map(is_twin, files)) > 0  # every twin has its float network beside it
    for made_from, twin in pairs:
        assert read_info(twin).metadata[QUANTIZED_FROM] == file_sha256(made_from), twin.name


def _still_room(w: int = 640, h: int = 480, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    room = cv2.resize(np.random.default_rng(1).integers(40, 220, (12, 16, 3), dtype=np.uint8), (w, h),
                      interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return np.clip(room + rng.normal(0, noise, room.shape), 0, 255).astype(np.uint8) if noise else room.astype(np.uint8)


def test_the_person_nets_mask_is_reused_only_while_the_picture_holds_still():
    """mask-reuse: a still frame (sensor noise and all) reuses the last matte whole, up to ``reuse`` frames in a row;
    a hand-sized patch that comes in or moves, a new stream or reuse 0 run the net."""
    from realtime.segment import MATTE, RUN, MaskReuse

    gate = MaskReuse(2)
    noisy = [_still_room(noise=6, seed=i) for i in range(6)]  # a dim camera's noise: no movement
    assert [gate.judge(f) for f in noisy] == [RUN, MATTE, MATTE, RUN, MATTE, MATTE]
    skin = (120, 160, 200)  # BGR: as bright as the wall there (luma 167 against 160), another colour
    gate.saw(noisy[5])
    assert gate.judge(noisy[4]) == MATTE  # what follows is the comparison's answer, not the reuse limit's
    hand = noisy[5].copy()
    cv2.rectangle(hand, (300, 200), (335, 245), skin, -1)  # a hand, 35x45 px at 640x480, comes in
    assert gate.judge(hand) == RUN
    moved = noisy[5].copy()
    cv2.rectangle(moved, (312, 200), (347, 245), skin, -1)  # ... and moves 12 px
    assert gate.judge(moved) == RUN and gate.judge(moved) == MATTE
    gate.reset()
    assert gate.judge(noisy[0]) == RUN
    assert all(MaskReuse(0).judge(noisy[0]) == RUN for _ in range(3))


def test_the_nets_answer_serves_a_frame_that_moved_a_little_on_the_person():
    """Where a little moved (a hand shifting on the person, up to NET_SHARE of the picture) the net's last answer
    serves and the edges are made anew (``NET``); the same movement across the person's outline or away from them,
    more of it, or the reuse limit run the net."""
    from realtime.segment import NET, RUN, MaskReuse

    room = _still_room(noise=3, seed=0)
    person = np.zeros((144, 256), np.float32)
    person[40:, 100:160] = 0.9  # the net's last answer: someone in the middle
    skin = (20, 200, 40)  # unlike the room anywhere

    def judged(x0, y0, size=(40, 40), reuse=1, passes=1):
        gate = MaskReuse(reuse)
        gate.saw(room)
        frame = room.copy()
        cv2.rectangle(frame, (x0, y0), (x0 + size[0], y0 + size[1]), skin, -1)
        return [gate.judge(frame, person) for _ in range(passes)]

    assert judged(290, 300) == [NET]  # on the person (x 250-400, y 133- at 640x480; 0.5% of the picture)
    assert judged(290, 300, passes=2) == [NET, RUN]  # reuse 1: the next frame runs the net
    assert judged(40, 300) == [RUN]  # as much movement beside the window: something came in
    assert judged(230, 300) == [RUN]  # across the person's left edge (x 250): the outline may have moved
    assert judged(290, 300, size=(80, 80)) == [RUN]  # more than NET_SHARE moved
    gate = MaskReuse(1)
    gate.saw(room)
    moved = room.copy()
    cv2.rectangle(moved, (290, 300), (330, 340), skin, -1)
    assert gate.judge(moved) == RUN  # without the net's last answer: nothing to say where the person is
    gate = MaskReuse(3)
    gate.saw(room)
    assert gate.judge(moved, person) == NET
    assert gate.judge(room, person) == NET  # as the net's frame again, but the last matte is the moved frame's


def test_a_stride_runs_the_net_on_every_nth_frame_counted_from_its_last():
    """mask-every: the net sees at most every Nth frame whatever moved (its last answer serves between, with edges
    made anew: ``NET``); still frames still reuse the matte whole within ``reuse``; the count starts again at the
    net's frame, so a still frame between never shifts the stride."""
    from realtime.segment import MATTE, NET, RUN, MaskReuse

    moving = synthetic_frames(9, 320, 240)
    gate = MaskReuse(1, every=2)
    assert [gate.judge(f) for f in moving[:6]] == [RUN, NET, RUN, NET, RUN, NET]
    gate = MaskReuse(0, every=3)
    assert [gate.judge(f) for f in moving] == [RUN, NET, NET] * 3
    still = [_still_room(320, 240, noise=3, seed=i) for i in range(6)]
    gate = MaskReuse(1, every=2)
    assert [gate.judge(f) for f in still] == [RUN, MATTE, RUN, MATTE, RUN, MATTE]
    gate = MaskReuse(1, every=3)
    assert [gate.judge(f) for f in (still[0], still[1], moving[2], moving[3])] == [RUN, MATTE, NET, RUN]


def test_a_live_pipeline_on_the_cpu_reuses_the_mask_and_render_never_does():
    from realtime.config import Settings
    from realtime.pipeline import Pipeline

    class Counted:
        def __init__(self, net):
            self.net, self.session, self.calls = net, net.session, 0

        def __call__(self, frame):
            self.calls += 1
            return self.net(frame)

    def runs(settings, live, frames):
        pipe = Pipeline.from_settings(settings.validate(), live=live)
        pipe.segmenter = net = Counted(pipe.segmenter)
        for f in frames:
            pipe.process(f)
        pipe.close()
        return net.calls

    still = [_still_room(320, 240, noise=3, seed=i) for i in range(8)]
    cpu = {"mode": "mask", "device": "cpu"}
    assert runs(Settings(**cpu), True, still) == 4  # every other frame (reuse 1)
    assert runs(Settings(**cpu, mask_reuse=0), True, still) == 8
    assert runs(Settings(**cpu), False, still) == 8  # render: every frame, whatever it shows
    assert runs(Settings(**cpu, mask_every=4), True, still) == 2  # a stride asked for is kept to
    moving = synthetic_frames(8, 320, 240)
    assert runs(Settings(**cpu), True, moving) == 8
    assert runs(Settings(**cpu, mask_every=2), True, moving) == 4  # a stride: kept to on frames that move too
    assert runs(Settings(**cpu, mask_every=2), False, moving) == 4
    with pytest.raises(RealtimeError, match="mask_reuse must be between 0 and 4"):
        Settings(mask_reuse=5).validate()


def test_a_frame_that_moved_a_little_on_the_person_skips_only_the_net(monkeypatch):
    """Live on a CPU a frame in which a little moved on the person keeps the net's last answer, but its edges and the
    plate's upkeep are made anew from it; render runs the net on every frame."""
    from realtime import composite
    from realtime.config import Settings
    from realtime.pipeline import Pipeline
    from realtime.plate import BackgroundPlate

    edges, upkeep = [], []
    guided, update = composite.guided_upsample, BackgroundPlate.update
    monkeypatch.setattr(composite, "guided_upsample", lambda *a, **k: edges.append(1) or guided(*a, **k))
    monkeypatch.setattr(BackgroundPlate, "update", lambda *a, **k: upkeep.append(1) or update(*a, **k))
    frames = [_still_room(320, 240, noise=3, seed=i) for i in range(4)]
    for i, f in enumerate(frames):  # a hand shifting on the person's chest, 6 px a frame
        cv2.rectangle(f, (140 + 6 * i, 150), (160 + 6 * i, 170), (20, 200, 40), -1)

    def calls(live):
        pipe = Pipeline.from_settings(Settings(mode="blur", device="cpu").validate(), live=live)
        ran = []

        class Person:  # the net's answer: someone in the middle, wherever the hand is
            session = pipe.segmenter.session

            def __call__(self, frame):
                ran.append(1)
                prob = np.zeros((144, 192), np.float32)
                prob[40:, 60:140] = 0.95
                return prob

        pipe.segmenter = Person()
        edges.clear()
        upkeep.clear()
        try:
            for f in frames:
                pipe.process(f)
        finally:
            pipe.close()
        return len(ran), len(edges), len(upkeep)

    assert calls(live=True) == (2, 4, 4)  # the net on frames 0 and 2 (reuse 1); edges and plate on every frame
    assert calls(live=False) == (4, 4, 4)


def test_a_frame_that_held_still_takes_the_last_frames_matte_whole(monkeypatch):
    """Live on a CPU a still frame skips the net, the edges and the plate's upkeep, and composes the last matte over
    this frame; a new mask tuning makes the next matte anew."""
    from realtime import composite
    from realtime.config import Settings
    from realtime.pipeline import Pipeline
    from realtime.plate import BackgroundPlate

    calls = {"plate": 0, "edges": 0}
    update, guided = BackgroundPlate.update, composite.guided_upsample

    def counted_update(self, *a, **k):
        calls["plate"] += 1
        return update(self, *a, **k)

    def counted_guided(*a, **k):
        calls["edges"] += 1
        return guided(*a, **k)

    monkeypatch.setattr(BackgroundPlate, "update", counted_update)
    monkeypatch.setattr(composite, "guided_upsample", counted_guided)
    pipe = Pipeline.from_settings(Settings(mode="blur", device="cpu").validate())
    frames = [_still_room(320, 240, noise=3, seed=i) for i in range(6)]
    cv2.circle(frames[0], (160, 240), 60, (60, 90, 200), -1)
    for f in frames[1:]:
        f[:] = frames[0]
    mattes = []
    try:
        for f in frames[:5]:
            out = pipe.process(f)
            mattes.append(pipe.matte.copy())
        assert calls == {"plate": 3, "edges": 3}  # frames 0, 2, 4
        assert all(np.array_equal(mattes[i], mattes[i - 1]) for i in (1, 3))
        assert out.shape == frames[4].shape
        pipe.set_mask(feather=5)  # frame 5 would be still
        pipe.process(frames[5])
        assert calls == {"plate": 4, "edges": 4}
    finally:
        pipe.close()
    mask = Pipeline.from_settings(Settings(mode="mask", device="cpu").validate())
    first, second = mask.process(frames[0]), mask.process(frames[1])
    assert np.array_equal(first, second) and second is not first  # the output of a still frame is the caller's own
    mask.close()


def test_holes_the_person_net_leaves_in_the_person_are_filled_and_room_seen_through_an_arm_is_not():
    """A patch of shirt the net missed would show the background through the person; a loop of arm shows the room
    (its colour, not the person's around it) and stays a hole; so does a hole too large to be a miss."""
    from realtime.segment import HOLE_SHARE, filled_holes

    h, w = 160, 224
    frame = np.full((h, w, 3), 235, np.uint8)  # a white wall
    frame[20:, 60:160] = (20, 120, 230)  # an orange hoodie
    frame[100:130, 130:150] = 235  # the wall seen through a loop of arm
    prob = np.zeros((h, w), np.float32)
    prob[20:, 60:160] = 0.97
    prob[60:70, 80:92] = 0.1  # missed: the hoodie under moving hands
    prob[100:130, 130:150] = 0.05  # right: the wall
    big = (slice(25, 85), slice(95, 155))  # a hole of 3600 pixels, 10% of the picture: not a miss
    prob[big] = 0.1
    out = filled_holes(prob, frame[..., ::-1] / 255)  # what the net saw: RGB, 0..1
    assert np.all(out[60:70, 80:92] == 1.0)
    assert np.array_equal(out[100:130, 130:150], prob[100:130, 130:150])
    assert 60 * 60 > HOLE_SHARE * h * w and np.array_equal(out[big], prob[big])
    assert np.array_equal(out[prob > 0.5], prob[prob > 0.5])  # the person as the net gave it
    assert filled_holes(np.zeros((h, w), np.float32), frame / 255).max() == 0  # nobody: nothing to fill


def test_doctor_says_which_person_net_runs_live_on_this_cpu_and_why(monkeypatch, tmp_path):
    """The doctor times the full person file as a live pipeline would and names the file a CPU runs, with the time."""
    from realtime import doctor, segment

    monkeypatch.setattr(segment, "full_net_fit", conftest.REAL_FULL_NET_FIT)  # the real judgement, not the stand-in
    for ms, expected in (({384: 9.0}, "on a CPU person-full fed 384, on every other frame (one call 9.0 ms at 384; "
                                      "at most 16.7)"),
                         ({384: 18.5, 352: 14.8}, "on a CPU person-full fed 352, on every other frame (one call 18.5 "
                                                  "ms at 384, 14.8 ms at 352; at most 16.7)"),
                         ({384: 26.0, 352: 20.0, 320: 17.0}, "on a CPU person (one call of person-full: 26.0 ms at "
                                                             "384, 20.0 ms at 352, 17.0 ms at 320; over 16.7;")):
        monkeypatch.setattr(segment, "call_ms", lambda session, shape, ms=ms: ms[shape[3]])
        assert doctor.live_person_net().startswith(expected)
    monkeypatch.setenv("REALTIME_MODELS", str(tmp_path))  # no person model there: the report goes on
    assert doctor.live_person_net().startswith("cannot tell: person model missing")


def test_a_step_down_runs_no_call_beyond_the_frames_own(monkeypatch):
    """Fed a smaller size, the full file (which has run) is called only for frames; the small file, never run, is
    warmed up once, at the camera's own shape (4:3 here), not at a 16:9 one."""
    from realtime import segment
    from realtime.config import Settings
    from realtime.pipeline import Pipeline

    monkeypatch.setattr(segment, "full_net_fit", lambda *args, **kwargs: (384, {}))
    monkeypatch.setattr(segment, "FULL_NET_WATCH", 3)
    monkeypatch.setattr(segment, "FULL_NET_SLACK", 0.0)
    pipe = Pipeline.from_settings(Settings(mode="mask", device="cpu").validate(), live=True)
    calls: dict[str, list] = {"full": [], "small": []}
    for name, session in (("full", pipe.segmenter.session), ("small", pipe._fallback)):
        run = session.run
        session.run = lambda x, run=run, name=name: calls[name].append(x.shape[2:]) or run(x)
    try:
        for f in synthetic_frames(24, 320, 240):
            pipe.process(f)
    finally:
        pipe.close()
    assert calls["full"] == [(256, 336)] * 4 + [(224, 304)] * 4 + [(208, 272)] * 4  # frames 0-22, every other
    assert calls["small"][0] == (160, 224)  # its warm-up, at the frame's shape, then the frames that moved


def test_the_full_person_net_steps_down_then_gives_way_to_the_small_one_when_its_calls_grow_too_long(
        monkeypatch, caplog):
    """Taken at start, the full file is watched: once the mean CPU time of its last calls (``FULL_NET_WATCH``) is over
    its budget by ``FULL_NET_SLACK``, it is fed the next smaller size from the next frame on, watched in turn, and
    below the smallest the small file (opened at start) runs on every frame that moves, with a warning at each step;
    calls within the budget never switch."""
    from realtime import segment
    from realtime.config import Settings
    from realtime.pipeline import Pipeline

    watch = segment.CallWatch(2)
    assert round(watch.limit_ms, 2) == 20.83  # 1.25 x 16.67 ms
    assert not any(watch.add(20.5) for _ in range(100))
    assert [watch.add(30.0) for _ in range(2)] == [False, True]  # the mean of the last 30: 20.82, then 21.13
    cold = segment.CallWatch(2)
    assert not cold.add(1000.0) and not cold.times  # the first call, cold, is not counted

    monkeypatch.setattr(segment, "full_net_fit", lambda *args, **kwargs: (384, {}))
    monkeypatch.setattr(segment, "FULL_NET_WATCH", 3)
    frames = synthetic_frames(24, 320, 180)
    for slack, switched in ((1000.0, False), (0.0, True)):
        monkeypatch.setattr(segment, "FULL_NET_SLACK", slack)
        caplog.clear()
        pipe = Pipeline.from_settings(Settings(mode="style-background", device="cpu").validate(), live=True)
        try:
            running = []  # the file and size that serve the next frame, after each frame
            for f in frames:
                assert pipe.process(f).shape == f.shape
                running.append((pipe.segmenter.session.path.name, pipe.segmenter.long_side))
            every = pipe.mask_every
            described = pipe.describe((640, 360))
        finally:
            pipe.close()
        if switched:  # each size's fourth call gives its verdict, the first (cold) not counted (every other frame:
            full = "person-full.onnx"  # on frames 0, 2, 4, 6 the first)
            assert running == ([(full, 384)] * 6 + [(full, 352)] * 8 + [(full, 320)] * 8
                               + [("person.onnx", 256)] * 2) and every == 1
            warning = r"person-full.onnx fed (\d+) took (\d+\.\d\d) ms .*\(at most (\d+\.\d\d)\): (.*) from now"
            said = [re.search(warning, line) for line in logged(caplog, logging.WARNING)]
            assert [(m[1], m[4]) for m in said] == [("384", "fed 352"), ("352", "fed 320"), ("320", "person.onnx")]
            assert all(float(m[2]) > float(m[3]) for m in said)  # the figures as printed show it over
            assert "256x144" in described and "every other" not in described
        else:
            assert running == [("person-full.onnx", 384)] * len(frames) and every == 2
            assert not logged(caplog, logging.WARNING)

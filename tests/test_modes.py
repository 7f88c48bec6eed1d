"""The modes table drives the CLI's choices, config validation, the live loop's keys and the pipeline (#22)."""
import logging
import threading

import cv2
import numpy as np
import pytest
from conftest import OnCpu, logged, run_cli

from realtime import modes, providers
from realtime.config import Settings
from realtime.errors import RealtimeError
from realtime.live import LiveLoop
from realtime.pipeline import Pipeline


def test_cli_lists_the_modes_and_devices_from_their_tables():
    r = run_cli("preview", "--help", env={"COLUMNS": "200"})
    assert r.returncode == 0
    for name in (*modes.NAMES, *providers.devices()):
        assert name in r.stdout, name
    r = run_cli("render", "x.png", "-o", "y.png", "--mode", "watercolour")
    assert r.returncode == 2 and "watercolour" in r.stderr


def test_config_validation_reads_the_table():
    for name in modes.NAMES:
        Settings(mode=name, background="b.png").validate()
    with pytest.raises(RealtimeError, match="unknown mode 'sketch'; choose one of: style-background"):
        Settings(mode="sketch").validate()
    picture = [m.name for m in modes.MODES.values() if m.background == "picture"]
    with pytest.raises(RealtimeError, match="needs --background"):
        Settings(mode=picture[0]).validate()


class Person:
    session = OnCpu()

    def __call__(self, frame):
        return np.full((frame.shape[0] // 4, frame.shape[1] // 4), 0.9, np.float32)


class Paint:
    session = OnCpu()

    def __call__(self, frame, smoother=None):
        return 255 - frame


class NoSource:
    dropped = 0


def live(mode="style-background", background=None) -> LiveLoop:
    p = Pipeline(Settings(mode=mode, background=background), live=False)
    p.segmenter, p.stylizer, p.plate_stylizer = Person(), Paint(), Paint()
    p.picture = None if background is None else np.zeros((8, 8, 3), np.uint8)
    p.set_mode(mode)
    return LiveLoop(p, NoSource(), stop=threading.Event())


def test_m_cycles_through_the_table_and_skips_what_it_cannot_show():
    loop = live()
    seen = [loop.pipeline.mode.name]
    for _ in range(len(modes.NAMES) - 1):  # all but the picture mode, and back to the first
        loop.handle_key("m")
        seen.append(loop.pipeline.mode.name)
    assert seen[0] == seen[-1] and "replace" not in seen  # no --background: the picture mode is skipped
    assert set(seen) == set(modes.NAMES) - {"replace"}
    with_picture = live(background="b.png")
    names = []
    for _ in range(len(modes.NAMES)):
        with_picture.handle_key("m")
        names.append(with_picture.pipeline.mode.name)
    assert set(names) == set(modes.NAMES)


def test_keys_change_the_pipeline_through_its_methods_and_reset_its_state():
    loop = live()
    p = loop.pipeline
    p.process(np.full((32, 48, 3), 90, np.uint8))
    assert p.state.mask.state is not None
    loop.handle_key("i")
    assert p.mode.name == "style-person" and p.state.mask.state is None  # a new mode starts clean
    loop.handle_key("i")
    assert p.mode.name == "style-background"
    loop.handle_key("-")
    loop.handle_key("-")
    assert p.settings.strength == 0.8
    for _ in range(20):
        loop.handle_key("+")
    assert p.settings.strength == 1.0


def test_mask_mode_is_one_channel_and_goes_out_as_colour():
    p = live("mask").pipeline
    out = p.process(np.full((32, 48, 3), 90, np.uint8))
    assert out.shape == (32, 48) and modes.MODES["mask"].channels == 1


def test_a_mode_that_cannot_load_is_one_line_and_the_call_goes_on(caplog):
    loop = live("mask")
    p = loop.pipeline
    p.settings.style = "no_such_style"
    p.stylizer = p.plate_stylizer = None  # the next painting mode must open the style, which does not exist
    loop.handle_key("m")  # mask -> none
    assert p.mode.name == "none" and not logged(caplog)
    loop.handle_key("m")  # none -> style-background: cannot load
    said = logged(caplog, logging.ERROR)
    assert p.mode.name == "none" and len(said) == 1 and "unknown style 'no_such_style'" in said[0]
    assert np.array_equal(p.process(np.full((8, 8, 3), 7, np.uint8)), np.full((8, 8, 3), 7, np.uint8))


def test_mask_keys_tune_live_and_w_saves_them_to_the_default_config_file(caplog):
    from realtime.config import build_settings
    from realtime.paths import config_file

    config_file().parent.mkdir(parents=True)
    config_file().write_text('style = "great_wave"\nfeather = 9\n')
    loop = live()
    p = loop.pipeline
    for key in "]]..t":
        loop.handle_key(key)
    assert (p.settings.feather, p.settings.mask_smoothing, p.settings.mask_threshold) == (5, 0.8, 0.3)
    assert p.state.mask.smoothing == 0.8 and "feather 5" in loop._hud_lines()[-2]
    for _ in range(30):
        loop.handle_key("[")
    assert p.settings.feather == 0
    loop.handle_key("w")
    assert logged(caplog) == [f"saved the mask settings to {config_file()}"]
    s = build_settings(None, {}, {})
    assert (s.style, s.feather, s.mask_smoothing, s.mask_threshold) == ("great_wave", 0, 0.8, 0.3)


def test_w_keeps_the_config_files_comments_and_order():
    """`w` replaced the whole file by its values, dropping the user's comments (and the sample's commented keys)."""
    from realtime.live import save_mask_settings
    from realtime.paths import config_file

    config_file().parent.mkdir(parents=True)
    config_file().write_text('# my call settings\nstyle = "udnie"   # the teacher\'s favourite\n'
                             'mask_smoothing = 0.6\nfeather-inside = true\n# mask-threshold = 0.5\n'
                             'mask-threshold = 0.7\n')
    tuned = Settings(feather=4, mask_smoothing=0.8, mask_threshold=None)
    save_mask_settings(tuned)
    assert config_file().read_text() == ('# my call settings\nstyle = "udnie"   # the teacher\'s favourite\n'
                                         'mask-smoothing = 0.8\nfeather-inside = true\n# mask-threshold = 0.5\n'
                                         'feather = 4\n')
    save_mask_settings(Settings(feather=2, mask_smoothing=0.5, mask_threshold=0.3))
    assert config_file().read_text().splitlines()[2:] == ["mask-smoothing = 0.5", "feather-inside = true",
                                                          "# mask-threshold = 0.5", "feather = 2",
                                                          "mask-threshold = 0.3"]
    # a comment after a value, a quoted key, Windows line ends, no newline at the end: each kept as it was
    config_file().write_bytes(b'"feather" = 3  # mine\r\nstyle = "udnie"\r\nmask-smoothing = 0.6')
    save_mask_settings(tuned)
    assert config_file().read_bytes() == b'feather = 4  # mine\r\nstyle = "udnie"\r\nmask-smoothing = 0.8\r\n'


def test_w_rewrites_a_config_it_cannot_edit_line_by_line_with_its_values_and_says_so(caplog):
    from realtime.config import build_settings
    from realtime.live import save_mask_settings
    from realtime.paths import config_file

    config_file().parent.mkdir(parents=True)
    config_file().write_text('# notes\nstyle = """\nfeather = 1\n"""\nfeather-inside = true\n')  # a key's look-alike
    save_mask_settings(Settings(feather=4, mask_smoothing=0.8, mask_threshold=0.5))
    s = build_settings(None, {}, {})
    assert (s.style, s.feather_inside, s.feather, s.mask_smoothing, s.mask_threshold) == \
        ("feather = 1\n", True, 4, 0.8, 0.5)  # TOML drops the newline right after """
    assert "rewritten with its settings only (its comments could not be kept)" in logged(caplog, logging.WARNING)[0]


def test_the_overlay_shows_each_stage_mean_over_the_last_frames_not_the_last_frame():
    """A reused matte makes `segment` alternate between the net's time and ~0: the overlay shows their mean."""
    from types import SimpleNamespace

    from realtime.pipeline import Timings

    frames = [SimpleNamespace(image=np.zeros((8, 8, 3), np.uint8), t_capture=0.0) for _ in range(10)]

    class Frames:
        dropped = 0

        @property
        def ended(self):
            return not frames

        def read(self, timeout):
            return frames.pop() if frames else None

    loop = live("blur")
    loop.source = Frames()
    p = loop.pipeline
    seen = iter(range(10))

    def process(image, t):
        p.timings = Timings({"segment": 8.0 if next(seen) % 2 else 0.2, "composite": 1.0})
        return image

    p.process = process
    loop.run()
    assert loop.frames_out == 10
    assert "ms: segment 4.1  composite 1.0" in loop._hud_lines()


def test_the_overlay_is_made_four_times_a_second_and_at_once_after_a_key():
    """Figures changing at 30 fps cannot be read, and drawing them cost the live thread: the lines are made anew every
    HUD_REFRESH_S, and at once after a key (what it changed shows in the next frame)."""
    from realtime.live import HUD_REFRESH_S

    loop = live("blur")
    first = loop._hud_now()
    assert loop._hud_now() is first
    loop._hud_t -= HUD_REFRESH_S
    second = loop._hud_now()
    assert second is not first and second == loop._hud_lines()
    loop.handle_key("-")
    assert loop._hud_now() is not second and "strength 0.9" in loop._hud_now()[-3]


def test_the_overlay_counts_the_frames_dropped_lately_not_those_of_the_start():
    """The frames the camera sent while the networks loaded are not a problem a user can act on: the overlay counts
    the stale frames dropped over the last DROPS_S seconds."""
    from realtime.live import DROPS_S

    loop = live("blur")
    loop.source.dropped = 16  # the start
    assert "dropped 0 in 5 s" in loop._hud_lines()[0]
    loop.source.dropped = 19
    assert "dropped 3 in 5 s" in loop._hud_lines()[0]
    loop._drops = type(loop._drops)((t - DROPS_S - 0.1, n) for t, n in loop._drops)  # five seconds later
    assert "dropped 0 in 5 s" in loop._hud_lines()[0]


@pytest.mark.parametrize("size", [(320, 180), (1280, 720)])
def test_the_overlay_drawn_from_its_cached_text_is_the_text_drawn_on_the_frame(size):
    """The overlay's text is drawn once per text and laid over each frame: the same picture as drawing it there."""
    from realtime.hud import FONT, draw_hud

    w, h = size
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    lines = ["29.9 fps  latency 25 ms", "ms: segment 7.5  mask 3.1  plate 4.8  composite 2.0", "q quit"]
    want = frame.copy()
    scale = max(0.4, min(w / 1280, 1.0) * 0.6)
    lh = int(26 * scale / 0.6)
    bw = max(cv2.getTextSize(t, FONT, scale, 1)[0][0] for t in lines) + 16
    want[:lh * 3 + 10, :bw] = cv2.convertScaleAbs(want[:lh * 3 + 10, :bw], alpha=0.4)
    for i, text in enumerate(lines):
        cv2.putText(want, text, (8, lh * (i + 1)), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    got = draw_hud(frame, lines)
    assert np.abs(got.astype(np.int16) - want).max() <= 1 and np.array_equal(got[lh * 3 + 10:], frame[lh * 3 + 10:])
    assert draw_hud(frame, lines[:1]).shape == frame.shape  # another text, the frame itself untouched
    assert np.array_equal(frame, np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("strength", [1.0, 0.6])
def test_the_background_modes_show_the_layer_by_the_persons_weight_at_any_strength(strength):
    """Over a background (painted, blurred, a picture) the person's weight shows the frame; the room shows the
    background by ``strength``. At full strength the blend runs with the layers swapped (no inverted weight) and, the
    person's edge being sharp, on the edge's band only: the same pixels as the general form."""
    rng = np.random.default_rng(3)
    frame, background = (rng.integers(0, 256, (36, 64, 3), dtype=np.uint8) for _ in range(2))
    person = cv2.circle(np.zeros((36, 64), np.uint8), (30, 18), 12, 255, -1)
    person[cv2.morphologyEx(person, cv2.MORPH_GRADIENT, np.ones((2, 2), np.uint8)) > 0] = 100  # a 1-px soft rim
    out = modes.get("style-background").compose(modes.Layers(frame, person, None, background, strength))
    inverse = cv2.convertScaleAbs(person, alpha=-strength, beta=255 * strength)
    f = inverse.astype(np.float32)[..., None] / 255
    assert np.abs(out - (background * f + frame * (1 - f))).max() <= 1.0
    if strength == 1.0:
        w3 = cv2.merge((inverse,) * 3)  # the general form's arithmetic on the whole frame, exactly
        assert np.array_equal(out, cv2.add(cv2.multiply(background, w3, scale=1 / 255),
                                           cv2.multiply(frame, cv2.bitwise_not(w3), scale=1 / 255)))

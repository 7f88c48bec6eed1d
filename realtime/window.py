"""The preview window (OpenCV's highgui; on Linux its Qt talks X11), and every way it can go away.

OpenCV alone does not see all of them: a window manager's close button (WM_DELETE_WINDOW) makes highgui raise
"NULL guiReceiver" on the next call; a window destroyed by another client is not noticed at all; and when the
X connection breaks (xkill, the X server ending) Qt ends the process itself with exit(1) inside ``cv2.waitKey``.
The X server is asked directly, over a connection of our own (libxcb, the library Qt's xcb plugin itself needs):
whether there is a display before Qt aborts on a missing one, and whether our window still exists.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time
from collections.abc import Callable

import cv2
import numpy as np

from realtime.errors import EXIT_NO_DEVICE, RealtimeError

CHECK_EVERY_S = 0.25  # how often the X server is asked whether the window still exists (~0.1 ms a time)
SEARCHES = 40  # looks for the window's X id (it appears within a frame or two; give up after 10 s)
SCREEN_SHARE = 0.85  # the window opens at the picture's size, shrunk to this share of the screen (title bar, panels)
SOME_SCREEN = (1440, 900)  # where the screen's size is unknown (macOS): a small laptop's


class _Cookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _ScreenIterator(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("rem", ctypes.c_int), ("index", ctypes.c_int)]


def _libxcb():
    """libxcb with the few calls used here typed, or None where there is none (no X11 on this system)."""
    name = ctypes.util.find_library("xcb")
    if not name:
        return None
    lib = ctypes.CDLL(name)
    p, u32, cookie = ctypes.c_void_p, ctypes.c_uint32, _Cookie
    for fn, res, args in [
        ("xcb_connect", p, [ctypes.c_char_p, p]), ("xcb_connection_has_error", ctypes.c_int, [p]),
        ("xcb_disconnect", None, [p]), ("xcb_get_setup", p, [p]), ("xcb_setup_roots_iterator", _ScreenIterator, [p]),
        ("xcb_intern_atom", cookie, [p, ctypes.c_uint8, ctypes.c_uint16, ctypes.c_char_p]),
        ("xcb_intern_atom_reply", p, [p, cookie, p]), ("xcb_query_tree", cookie, [p, u32]),
        ("xcb_query_tree_reply", p, [p, cookie, p]), ("xcb_query_tree_children", ctypes.POINTER(u32), [p]),
        ("xcb_query_tree_children_length", ctypes.c_int, [p]),
        ("xcb_get_property", cookie, [p, ctypes.c_uint8, u32, u32, u32, u32, u32]),
        ("xcb_get_property_reply", p, [p, cookie, p]), ("xcb_get_property_value", p, [p]),
        ("xcb_get_property_value_length", ctypes.c_int, [p]),
        ("xcb_get_window_attributes", cookie, [p, u32]), ("xcb_get_window_attributes_reply", p, [p, cookie, p]),
    ]:
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    return lib


_libc = ctypes.CDLL(None) if os.name == "posix" else None  # the C library this process runs on
if _libc is not None:
    _libc.free.argtypes = [ctypes.c_void_p]


def _uses_x11() -> bool:
    """Whether highgui's windows go through X11 here (OpenCV's Linux wheels: Qt with only its xcb platform)."""
    return sys.platform.startswith("linux") and os.environ.get("QT_QPA_PLATFORM", "xcb").startswith("xcb")


class _XServer:
    """Our own connection to the display's X server."""

    ATOM_CARDINAL = 6

    def __init__(self, xcb) -> None:
        self.xcb = xcb
        self.conn = xcb.xcb_connect(None, None)
        if xcb.xcb_connection_has_error(self.conn):
            xcb.xcb_disconnect(self.conn)
            display = os.environ.get("DISPLAY")
            raise RealtimeError("no display for the preview window: " + (
                f"cannot connect to X display {display}" if display else "DISPLAY is not set")
                + " (use `realtime camera` or `realtime render` without one)", EXIT_NO_DEVICE)
        screen = xcb.xcb_setup_roots_iterator(xcb.xcb_get_setup(self.conn)).data
        # xcb_screen_t: root, default_colormap, white_pixel, black_pixel, current_input_masks (32 bits each), then
        # width_in_pixels and height_in_pixels (16 bits each)
        self.root = ctypes.c_uint32.from_address(screen).value
        self.screen = (ctypes.c_uint16.from_address(screen + 20).value, ctypes.c_uint16.from_address(screen + 22).value)
        name = b"_NET_WM_PID"
        reply = self._reply("xcb_intern_atom", self._ask("xcb_intern_atom", 0, len(name), name))
        # the reply: response_type, pad, sequence (16 bits), length (32), atom (32)
        self.pid_atom = ctypes.c_uint32.from_address(reply + 8).value if reply else 0
        _libc.free(reply)

    def _ask(self, fn: str, *args) -> _Cookie:
        return getattr(self.xcb, fn)(self.conn, *args)

    def _reply(self, fn: str, cookie: _Cookie) -> int | None:
        """A request's reply (a pointer to free), or None when the server answered with an error."""
        error = ctypes.c_void_p()
        reply = getattr(self.xcb, fn + "_reply")(self.conn, cookie, ctypes.byref(error))
        _libc.free(error)
        return reply or None

    def _children(self, reply: int | None) -> list[int]:
        if reply is None:
            return []
        out = self.xcb.xcb_query_tree_children(reply)[:self.xcb.xcb_query_tree_children_length(reply)]
        _libc.free(reply)
        return out

    def _pid(self, reply: int | None) -> int | None:
        if reply is None:
            return None
        pid = None
        if self.xcb.xcb_get_property_value_length(reply) == 4:
            pid = ctypes.c_uint32.from_address(self.xcb.xcb_get_property_value(reply)).value
        _libc.free(reply)
        return pid

    def window_of(self, pid: int, depth: int = 3) -> int | None:
        """A top-level window of process ``pid`` (Qt sets _NET_WM_PID; window managers put a frame around it).
        All of a level's requests go out before their replies are read: a round trip a level, not a window."""
        level = [self.root]
        for _ in range(depth):
            trees = [self._ask("xcb_query_tree", w) for w in level]
            level = [c for cookie in trees for c in self._children(self._reply("xcb_query_tree", cookie))]
            props = [self._ask("xcb_get_property", 0, w, self.pid_atom, self.ATOM_CARDINAL, 0, 1) for w in level]
            pids = [self._pid(self._reply("xcb_get_property", cookie)) for cookie in props]
            if pid in pids:
                return level[pids.index(pid)]
        return None

    def exists(self, window: int) -> bool:
        reply = self._reply("xcb_get_window_attributes", self._ask("xcb_get_window_attributes", window))
        _libc.free(reply)
        return reply is not None

    def close(self) -> None:
        self.xcb.xcb_disconnect(self.conn)


def _x_server() -> _XServer | None:
    """A connection to the display the window will open on; RealtimeError (no device) when there is none, before
    Qt aborts the process on it."""
    if not _uses_x11():
        return None
    xcb = _libxcb()
    if xcb is None:  # no X11 library: highgui is not OpenCV's Qt-on-X11 here, and reports for itself
        return None
    return _XServer(xcb)


def check_display() -> None:
    """RealtimeError (no device) unless there is a display for a preview window."""
    x = _x_server()
    if x is not None:
        x.close()


def window_size(picture: tuple[int, int], screen: tuple[int, int]) -> tuple[int, int]:
    """The window's size for a w x h picture: the picture's own, shrunk (aspect kept) to fit ``SCREEN_SHARE`` of the
    screen."""
    w, h = picture
    s = min(1.0, SCREEN_SHARE * screen[0] / w, SCREEN_SHARE * screen[1] / h)
    return max(1, round(w * s)), max(1, round(h * s))


def _screen(x: _XServer | None) -> tuple[int, int]:
    """The screen's size in pixels: X11's, Windows' primary monitor's, else ``SOME_SCREEN``. (X11's screen spans
    all the monitors, so a smaller monitor beside a larger one may get a window too big for it; resizable.)"""
    if x is not None:
        return x.screen
    if sys.platform == "win32":
        metrics = ctypes.windll.user32.GetSystemMetrics
        return metrics(0), metrics(1)  # SM_CXSCREEN, SM_CYSCREEN
    return SOME_SCREEN


class PreviewWindow:
    """A highgui window that says when it is gone: closed by the user or the window manager, or destroyed.

    It opens with the first picture, at the picture's size or the largest that fits the screen, and shows the
    picture alone (no highgui toolbar or status bar); the user may resize it. (highgui's own first size is 400x300
    whatever the picture: a 720p picture and its overlay shrunk to a third.)"""

    def __init__(self, name: str) -> None:
        self.name = name
        self._x = _x_server()
        self._xid: int | None = None
        self._searches = 0
        self._next_check = 0.0
        self._picture: tuple[int, int] | None = None  # the size last fitted: a new size (a mode, a camera) fits anew
        self.gone = False

    def show(self, image: np.ndarray) -> None:
        if self.gone:
            return
        picture = (image.shape[1], image.shape[0])
        if picture != self._picture:
            if self._picture is None:
                cv2.namedWindow(self.name, cv2.WINDOW_NORMAL | cv2.WINDOW_GUI_NORMAL)
            self._picture = picture
            cv2.resizeWindow(self.name, *window_size(picture, _screen(self._x)))
        cv2.imshow(self.name, image)

    def key(self) -> int:
        """The key pressed (255: none); sets ``gone`` when the window went away."""
        if self._picture is None:  # no window yet: it opens with the first picture
            return 255
        key = cv2.waitKey(1) & 0xFF
        try:  # Qt's highgui raises "NULL guiReceiver" once the window manager closed its last window
            if cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1:
                self.gone = True
        except cv2.error:
            self.gone = True
        if not self.gone and self._x is not None and time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + CHECK_EVERY_S
            if self._xid is None and self._searches < SEARCHES:
                self._searches += 1
                self._xid = self._x.window_of(os.getpid())
            elif self._xid is not None and not self._x.exists(self._xid):  # destroyed by another client: Qt
                self.gone = True  # never hears of it
        return 255 if self.gone else key

    def close(self) -> None:
        if not self.gone and self._picture is not None:
            try:
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)
            except cv2.error:
                pass
        if self._x is not None:
            self._x.close()
            self._x = None


_exit_hook: dict = {}  # "hook": the registered C callback (kept alive), "callback": what it runs


def on_x_connection_lost(callback: Callable[[], None]) -> None:
    """Run ``callback`` (the command's normal end: its summary) and exit 0 if the process is ended from C while a
    window is open: Qt calls exit(1) inside ``cv2.waitKey`` when its X connection breaks, and glibc's ``on_exit`` is
    the only place left to run code then. The hook stays registered, and calling into Python after the interpreter
    has shut down crashes, so a process that sets it must end with ``os._exit`` (``realtime.cli.main`` does)."""
    if "hook" not in _exit_hook:
        if not _uses_x11() or not hasattr(_libc, "on_exit"):  # glibc's; not on musl
            return

        @ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)
        def hook(_status, _arg):
            _exit_hook["callback"]()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

        _exit_hook["hook"] = hook
        _libc.on_exit(hook, None)
    _exit_hook["callback"] = callback


def exit_hooked() -> bool:
    """Whether ``on_x_connection_lost`` registered its C exit hook in this process."""
    return "hook" in _exit_hook

"""The README's first picture: a webcam frame, then the same frame through the filter in a few styles.

Each style filters the clip from its start up to the frame, as ``realtime render`` does (the plate painted by the
style's full network at the frame's size), so the plate has seen what a call would have shown it by then.

    python -m export.result_picture --clip thanks --frame 40 -o docs/result.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from export.catalog import DATA_ROOT

FONT = cv2.FONT_HERSHEY_SIMPLEX


def labelled(image: np.ndarray, text: str, bar: int = 24) -> np.ndarray:
    """``image`` under a black bar with ``text`` in it."""
    top = np.zeros((bar, image.shape[1], 3), np.uint8)
    cv2.putText(top, text, (6, bar - 7), FONT, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([top, image])


def result_picture(clip: Path, index: int, styles: list[str], mode: str = "style-background") -> np.ndarray:
    from export.evaluate_style import clip_frames
    from realtime import Filter

    frames = clip_frames(clip, index + 1)
    if len(frames) <= index:
        raise SystemExit(f"error: {clip} has {len(frames)} frames, not {index + 1}")
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0  # frame times as render gives them: the painter's waits are in video time
    cap.release()
    tiles = [labelled(frames[index], "webcam")]
    for i, style in enumerate(styles):
        with Filter(style=style, mode=mode, device="cpu") as f:
            out = [f(frame, n / fps) for n, frame in enumerate(frames)][index]
        tiles.append(labelled(out, f"realtime --style {style}" if i == 0 else f"--style {style}"))
    return np.hstack(tiles)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="thanks", help="a webcam clip of the data folder, by name")
    ap.add_argument("--frame", type=int, default=40)
    ap.add_argument("--styles", default="udnie,starry_night")
    ap.add_argument("-o", "--out", type=Path, default=Path("docs/result.png"))
    args = ap.parse_args()
    clip = DATA_ROOT / "video" / "webcam_clips" / f"{args.clip}.mkv"
    if not clip.exists():
        raise SystemExit(f"error: no webcam clip {clip}")
    cv2.imwrite(str(args.out), result_picture(clip, args.frame, args.styles.split(",")))


if __name__ == "__main__":
    main()

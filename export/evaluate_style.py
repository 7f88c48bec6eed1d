"""Evaluate the shipped styles: flicker on the webcam clips (ours vs the teacher, per clip), a contact sheet
of one webcam frame in every style, and student vs teacher side by side.

Flicker = mean |styled_t - styled_{t-1}| / mean |frame_t - frame_{t-1}| over a clip (1 = the painting moves
exactly as much as the video does). "ours" is the style stage as the runtime runs it (network at --style-scale
0.5 as on a CPU, or `--scale 1.0` as on a GPU, then its motion-adaptive temporal smoothing, `style-smoothing`);
"ours_raw" is the network alone.

Detail = mean |Laplacian| of the painted frame's luma at the size the user sees (one frame per clip): how much
brush texture there is, not just colour. Reported for ours and the teacher, and as the ratio ours / teacher.

    python -m export.evaluate_style --json docs/style_eval.json --sheet docs/styles.png \
        --versus docs/student_vs_teacher.png
    python -m export.evaluate_style --styles udnie-full --scale 1.0 --frames 24   # the GPU configuration
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from export.catalog import DATA_ROOT, PAINTINGS

RUNTIME_SCALE = 0.5  # the runtime's default --style-scale


class StyleStage:
    """The style stage as the runtime runs it: the network, then the stream's painting smoother."""

    def __init__(self, name: str, scale: float, smoothing: float) -> None:
        from realtime.inference import open_session
        from realtime.models import resolve_style
        from realtime.stylize import PaintingSmoother, Stylizer

        session = open_session(resolve_style(name), "style-transfer", "cpu", 2, log=lambda m: None)
        self.stylizer, self.smoother = Stylizer(session, scale), PaintingSmoother(smoothing)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.stylizer(frame, self.smoother)

    def reset(self) -> None:
        self.smoother.reset()


def student(name: str, scale: float = RUNTIME_SCALE, smoothing: float | None = None) -> StyleStage:
    """The style stage as the runtime builds it (``smoothing`` None: the runtime's default)."""
    from realtime.config import Settings

    return StyleStage(name, scale, Settings().style_smoothing if smoothing is None else smoothing)


def teacher(name: str, data: Path):
    """The teacher, set to the painting the model ``name`` learned (its ``style`` metadata: udnie-full -> udnie)."""
    from export.teacher import Teacher
    from realtime.models import read_info, resolve_style

    painting = read_info(resolve_style(name)).metadata.get("style", name)
    return Teacher(data / "styles" / f"{painting}.jpg", threads=2)


def clip_frames(path: Path, limit: int = 60) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < limit:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out


def flicker(fn, frames: list[np.ndarray]) -> float:
    """Flicker of ``fn`` over one clip (a stateful ``fn`` should start the clip fresh)."""
    styled = [fn(f).astype(np.float32) for f in frames]
    num = np.mean([np.abs(b - a).mean() for a, b in zip(styled, styled[1:], strict=False)])
    den = np.mean([np.abs(b.astype(np.float32) - a).mean() for a, b in zip(frames, frames[1:], strict=False)])
    return float(num / den)


def detail(img: np.ndarray) -> float:
    """Mean absolute Laplacian of the luma: fine structure (strokes, edges) per pixel, 0 for a flat image."""
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)).mean())


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_ROOT)
    ap.add_argument("--styles", default=",".join(PAINTINGS))
    ap.add_argument("--clips", type=int, default=15, help="how many webcam clips (all 15 by default)")
    ap.add_argument("--frames", type=int, default=40, help="frames per clip")
    ap.add_argument("--scale", type=float, default=RUNTIME_SCALE,
                    help="style scale the network paints at (1.0: full resolution, as on a GPU)")
    ap.add_argument("--no-teacher", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sheet", type=Path)
    ap.add_argument("--versus", type=Path)
    args = ap.parse_args()
    names = [s for s in args.styles.split(",") if s]
    clips = sorted((args.data / "video" / "webcam_clips").glob("*.mkv"))[: args.clips]
    report: dict = {}
    for name in names:
        ours, raw = student(name, args.scale), student(name, args.scale, smoothing=0.0)
        row = {"ours": {}, "ours_raw": {}, "teacher": {}}
        details: dict[str, list[float]] = {"ours": [], "teacher": []}
        tch = None if args.no_teacher else teacher(name, args.data)
        for clip in clips:
            frames = clip_frames(clip, args.frames)
            ours.reset()
            row["ours"][clip.stem] = round(flicker(ours, frames), 3)
            row["ours_raw"][clip.stem] = round(flicker(raw, frames), 3)
            details["ours"].append(detail(raw(frames[len(frames) // 2])))  # smoothing leaves detail as it is
            if tch is not None:
                row["teacher"][clip.stem] = round(flicker(tch, frames), 3)
                details["teacher"].append(detail(tch(frames[len(frames) // 2])))
        for k in ("ours", "ours_raw", "teacher"):
            if row[k]:
                row[f"{k}_mean"] = round(float(np.mean(list(row[k].values()))), 3)
                row[f"{k}_max"] = round(float(np.max(list(row[k].values()))), 3)
            if details.get(k):
                row[f"{k}_detail"] = round(float(np.mean(details[k])), 2)
        if details["teacher"]:
            row["detail_ratio"] = round(row["ours_detail"] / row["teacher_detail"], 3)
        report[name] = row
        print(f"{name}: flicker ours mean {row.get('ours_mean')} max {row.get('ours_max')} (network alone "
              f"{row.get('ours_raw_mean')} / {row.get('ours_raw_max')}), "
              f"teacher mean {row.get('teacher_mean')}; detail ours {row.get('ours_detail')} "
              f"teacher {row.get('teacher_detail')}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    # the frame at full size, painted as the runtime paints it (at --style-scale 0.5), shown at 320x240
    frame = clip_frames(clips[0], 30)[-1] if clips else None

    def tile(img: np.ndarray, text: str) -> np.ndarray:
        return label(cv2.resize(img, (320, 240), interpolation=cv2.INTER_AREA), text)

    if args.sheet and frame is not None:
        tiles = [tile(frame, "webcam frame")] + [tile(student(n, args.scale)(frame), n) for n in names]
        while len(tiles) % 4:
            tiles.append(np.full_like(tiles[0], 255))
        cv2.imwrite(str(args.sheet), np.vstack([np.hstack(tiles[i:i + 4]) for i in range(0, len(tiles), 4)]))
    if args.versus and frame is not None:
        rows = [np.hstack([tile(frame, "frame"), tile(student(n, args.scale)(frame), f"{n} (ours)"),
                           tile(teacher(n, args.data)(frame), "teacher")]) for n in names[:3]]
        cv2.imwrite(str(args.versus), np.vstack(rows))


if __name__ == "__main__":
    main()

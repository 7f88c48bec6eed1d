"""How well the background stays clear of the person: clips built from the data folder, where the person's true
outline is known, run through the pipeline and compared with the same pipeline run on the empty room.

A person cut-out walks across, or sways +-12 px, in front of a room photo: 90 frames at 30 fps, with the same
mild sensor noise in the clip and in its empty-room twin. On the second half of each clip:
- ring: mean |luma difference| to the empty room's output, 3-20 px outside the person (a ghost or halo);
- far: the same >= 48 px away from the person (the painting of the room changed because of the person);
- inside: mean |luma difference| between the output and the input inside the person eroded by 5 px;
- person colours in the plate: the share of the person's pixels whose colour is found in the plate there.
And on the data folder's real webcam clips:
- flicker: mean |change of the output| / mean |change of the input| between consecutive frames, over the
  background (pixels the pipeline's own matte calls background, 8 px away from the person, in both frames).

    python -m export.evaluate_plate --json docs/plate_eval.json --picture docs/plate.png
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from export.catalog import DATA_ROOT
from realtime.modes import MODES

FRAMES, FPS, SWAY = 90, 30.0, 12
SIZE = (640, 360)
CASTS = ((3, 5), (20, 40), (60, 90), (110, 150))  # (room, cut-out) pairs: several people in several rooms
# rooms the style networks never trained on (every 8th: export.style_data.held_out_rooms), same cut-outs
HELD_OUT_CASTS = ((8, 5), (24, 40), (64, 90), (112, 150))


@dataclass
class Clip:
    frames: list[np.ndarray]  # with the person
    empty: list[np.ndarray]  # the same room and noise, nobody there
    person: list[np.ndarray]  # uint8 true person mask per frame (255 = person)


def _cutout_paths(data: Path) -> list[Path]:
    return sorted((data / "segmentation" / "cutouts").glob("*.png"))


def cast_cutouts(data: Path = DATA_ROOT) -> set[str]:
    """The cut-outs these clips paste in ("cutouts/NAME", as the segmentation data names them): the person net's
    training leaves them out."""
    paths = _cutout_paths(data)
    if not paths:
        return set()
    return {f"cutouts/{paths[i % len(paths)].name}" for _, i in CASTS + HELD_OUT_CASTS}


def _cutout(data: Path, index: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    paths = _cutout_paths(data)
    rgba = cv2.imread(str(paths[index % len(paths)]), cv2.IMREAD_UNCHANGED)
    ys, xs = np.nonzero(rgba[..., 3] > 8)
    rgba = rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    s = height / rgba.shape[0]
    rgba = cv2.resize(rgba, (max(1, round(rgba.shape[1] * s)), height), interpolation=cv2.INTER_AREA)
    return rgba[..., :3], rgba[..., 3]


def _room(data: Path, index: int, size: tuple[int, int]) -> np.ndarray:
    from realtime.composite import fit_background

    paths = sorted((data / "backgrounds" / "rooms").glob("*.jpg"))
    return fit_background(cv2.imread(str(paths[index % len(paths)])), size)


def build_clip(kind: str, data: Path = DATA_ROOT, room: int = 3, person: int = 5, size: tuple[int, int] = SIZE,
               frames: int = FRAMES, noise: float = 2.0) -> Clip:
    """``kind``: "walk" (left to right across the frame) or "sway" (+-12 px around the middle)."""
    w, h = size
    bg = _room(data, room, size)
    colour, alpha = _cutout(data, person, int(h * 0.85))
    ph, pw = alpha.shape
    rng = np.random.default_rng(7)
    out = Clip([], [], [])
    for i in range(frames):
        if kind == "walk":
            x = int(-pw * 0.2 + (w - pw * 0.6) * i / (frames - 1))
        else:
            x = (w - pw) // 2 + round(SWAY * np.sin(2 * np.pi * i / frames * 3))
        a = np.zeros((h, w), np.float32)
        c = np.zeros((h, w, 3), np.uint8)
        x0, x1 = max(0, x), min(w, x + pw)
        a[h - ph:, x0:x1] = alpha[:, x0 - x:x1 - x] / 255.0
        c[h - ph:, x0:x1] = colour[:, x0 - x:x1 - x]
        n = rng.normal(0, noise, (h, w, 3)).astype(np.float32)
        empty = np.clip(bg + n, 0, 255).astype(np.uint8)
        frame = np.clip(bg * (1 - a[..., None]) + c * a[..., None] + n, 0, 255).astype(np.uint8)
        out.frames.append(frame)
        out.empty.append(empty)
        out.person.append(((a > 0.5) * 255).astype(np.uint8))
    return out


def run(pipeline, frames: list[np.ndarray]) -> list[np.ndarray]:
    pipeline.reset()
    return [pipeline.process(f, i / FPS) for i, f in enumerate(frames)]


def _luma(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)


def measure(clip: Clip, outputs: list[np.ndarray], reference: list[np.ndarray]) -> dict[str, float]:
    """The figures of the module's docstring over the clip's second half."""
    ring, far, inside = [], [], []
    for i in range(len(clip.frames) // 2, len(clip.frames)):
        dist = cv2.distanceTransform(cv2.bitwise_not(clip.person[i]), cv2.DIST_L2, 5)
        diff = np.abs(_luma(outputs[i]) - _luma(reference[i]))
        ring.append(diff[(dist > 3) & (dist <= 20)].mean())
        far.append(diff[dist >= 48].mean())
        core = cv2.erode(clip.person[i], cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))) > 0
        if core.any():
            inside.append(np.abs(_luma(outputs[i]) - _luma(clip.frames[i]))[core].mean())
    return {"ring": round(float(np.mean(ring)), 2), "far": round(float(np.mean(far)), 2),
            "inside": round(float(np.mean(inside)), 2) if inside else 0.0}


def person_in_plate(clip: Clip, plate: np.ndarray) -> float:
    """Share of the last frame's person pixels whose colour the plate holds there (within 12 levels)."""
    i = len(clip.frames) - 1
    core = cv2.erode(clip.person[i], np.ones((5, 5), np.uint8)) > 0
    same_as_person = np.abs(plate.astype(np.int16) - clip.frames[i].astype(np.int16)).max(axis=2) <= 12
    same_as_room = np.abs(plate.astype(np.int16) - clip.empty[i].astype(np.int16)).max(axis=2) <= 12
    return float((same_as_person & ~same_as_room)[core].mean())


def webcam_clips(data: Path = DATA_ROOT, count: int = 15, frames: int = 60) -> dict[str, list[np.ndarray]]:
    """The first ``frames`` frames of the first ``count`` webcam clips, by name."""
    from export.evaluate_style import clip_frames

    return {p.stem: clip_frames(p, frames) for p in sorted((data / "video" / "webcam_clips").glob("*.mkv"))[:count]}


def flicker(outputs: list[np.ndarray], frames: list[np.ndarray], mattes: list[np.ndarray]) -> float:
    """Output change over input change between consecutive frames, on the background of both."""
    near = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17))
    num = den = 0.0
    for i in range(1, len(frames)):
        bg = cv2.dilate(cv2.bitwise_or(mattes[i], mattes[i - 1]), near) < 16
        num += float(np.abs(outputs[i].astype(np.int16) - outputs[i - 1])[bg].sum())
        den += float(np.abs(frames[i].astype(np.int16) - frames[i - 1])[bg].sum())
    return num / max(den, 1.0)


def evaluate_flicker(settings, clips: dict[str, list[np.ndarray]], live: bool = False) -> dict[str, float]:
    """Flicker per webcam clip; ``live``: as the camera path runs (painter on its thread, frames at 30 fps)."""
    import dataclasses
    import time

    from realtime.pipeline import Pipeline

    pipeline = Pipeline.from_settings(settings, live=live)
    matte = next(m.name for m in MODES.values() if m.channels == 1)
    # the background is where the measured pipeline's own person net puts it (live on a CPU the one it affords)
    matter = Pipeline.from_settings(dataclasses.replace(settings, mode=matte), live=live)
    try:
        out = {}
        for name, frames in clips.items():
            pipeline.reset()
            outputs = []
            for i, f in enumerate(frames):
                t0 = time.perf_counter()
                outputs.append(pipeline.process(f, i / FPS))
                if live:  # a camera's pace, so the painter's thread gets the time it would have
                    time.sleep(max(0.0, 1 / FPS - (time.perf_counter() - t0)))
            out[name] = round(flicker(outputs, frames, run(matter, frames)), 3)
        return out
    finally:
        pipeline.close()
        matter.close()


def build_clips(data: Path = DATA_ROOT, casts=CASTS) -> dict[str, list[Clip]]:
    """Every kind of clip ("walk", "sway") with every (room, person) pair."""
    return {kind: [build_clip(kind, data, room, person) for room, person in casts] for kind in ("walk", "sway")}


def evaluate(settings, clips: dict[str, list[Clip]]) -> dict[str, dict[str, float]]:
    """The figures per kind of clip, averaged over its clips (the person's colours: the worst clip)."""
    from realtime.pipeline import Pipeline

    pipeline = Pipeline.from_settings(settings, live=False)
    try:
        out = {}
        for kind, group in clips.items():
            rows = []
            for clip in group:
                ref = run(pipeline, clip.empty)
                res = measure(clip, run(pipeline, clip.frames), ref)
                if pipeline.state.plate.image is not None:
                    res["person_in_plate"] = person_in_plate(clip, pipeline.state.plate.filled())
                rows.append(res)
            out[kind] = {k: round(float(np.mean([r[k] for r in rows])), 2) for k in ("ring", "far", "inside")}
            if "person_in_plate" in rows[0]:
                out[kind]["person_in_plate"] = round(max(r["person_in_plate"] for r in rows), 4)
        return out
    finally:
        pipeline.close()


def picture(settings_list, clip: Clip, path: Path, index: int = 75) -> None:
    """frame | each configuration's output, for one frame of a clip; each configuration is (label, settings, live:
    run as the camera path runs it, or as ``render`` does)."""
    from realtime.pipeline import Pipeline

    tiles = [clip.frames[index]]
    for label, settings, live in settings_list:
        p = Pipeline.from_settings(settings, live=live)
        try:
            tile = run(p, clip.frames[:index + 1])[index].copy()
        finally:
            p.close()  # live on a CPU it gives OpenCV its threads back
        cv2.putText(tile, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(tile)
    cv2.putText(tiles[0], "frame", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.imwrite(str(path), np.hstack(tiles))


def main() -> None:
    from realtime.config import Settings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_ROOT)
    ap.add_argument("--style", default="udnie")
    ap.add_argument("--modes", default=",".join(m.name for m in MODES.values() if m.background in ("paint", "blur")),
                    help="the modes that work on the plate, by default")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--picture", type=Path)
    ap.add_argument("--no-plate", action="store_true", help="the whole frame painted / blurred, as before the plate")
    ap.add_argument("--no-trim", action="store_true",
                    help="the person weight as the network and the plate's additions give it, without the room the "
                         "plate shows beside the person taken out (plate-trim off)")
    ap.add_argument("--flicker", type=int, default=15, help="webcam clips to measure flicker on (0: none)")
    ap.add_argument("--live", action="store_true", help="flicker as the camera path runs it (in real time)")
    ap.add_argument("--held-out", action="store_true",
                    help="rooms the style networks never trained on (the default casts' rooms are in their training)")
    args = ap.parse_args()
    clips = build_clips(args.data, HELD_OUT_CASTS if args.held_out else CASTS)
    webcam = webcam_clips(args.data, args.flicker) if args.flicker else {}
    report = {}
    for mode in args.modes.split(","):
        settings = Settings(mode=mode, style=args.style, device="cpu", threads=2, plate=not args.no_plate,
                            plate_trim=not args.no_trim)
        report[mode] = evaluate(settings, clips)
        if webcam:
            per_clip = evaluate_flicker(settings, webcam, args.live)
            report[mode]["flicker"] = {"mean": round(float(np.mean(list(per_clip.values()))), 3),
                                       "worst": max(per_clip.values()), "clips": per_clip}
        print(mode, json.dumps(report[mode]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.picture:
        picture(readme_picture(args.style), clips["sway"][0], args.picture)


def readme_picture(style: str) -> list:
    """The README's picture: the output before the plate (the whole frame painted live by the fast net at about
    320x180, enlarged) and with it (the plate painted by the full net, as ``render`` paints it)."""
    from realtime.config import Settings

    return [("before: whole frame, 320x180", Settings(style=style, device="cpu", plate=False), True),
            ("plate, full resolution", Settings(style=style, device="cpu"), False)]


if __name__ == "__main__":
    main()

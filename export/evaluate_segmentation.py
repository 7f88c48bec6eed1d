"""Evaluate the shipped person model (ONNX Runtime, as the runtime runs it) on the held-out split, side by side
with MediaPipe's selfie segmentation when `mediapipe==0.10.14` is importable; and mask stability on the webcam
clips (mean |mask_t - mask_{t-1}|, raw and after the runtime's temporal smoothing); false alarms on the held-out
empty rooms (what share of a room with nobody in it is called person); bystanders (a second person partly inside
the frame's edge, beside the person in the middle: how much of them is called person); plus a picture of mattes.

    python -m export.evaluate_segmentation --json docs/segmentation_eval.json --picture docs/mattes.png
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from export.catalog import DATA_ROOT
from export.seg_data import background_paths, iou_dice, load_pairs, paste, validation_names


class Ours:
    name = "ours (U-Net, ONNX Runtime)"

    def __init__(self, threads: int = 2, model: Path | None = None, flip: bool = False,
                 long_side: int | None = None) -> None:
        from realtime.inference import open_session
        from realtime.models import person_model
        from realtime.segment import PersonSegmenter

        self.seg = PersonSegmenter(open_session(model or person_model(), "person-segmentation", "cpu", threads),
                                   long_side, flip)
        if flip or long_side or model:
            self.name += f" at {self.seg.long_side}" + (", flip-averaged" if flip else "")

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        return self.seg(bgr)


class MediaPipeSelfie:
    name = "MediaPipe selfie (landscape)"

    def __init__(self) -> None:
        import mediapipe as mp

        self.model = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        return self.model.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).segmentation_mask


def score(model, samples) -> dict:
    """Per-subset mIoU (person + background), person IoU, Dice; masks compared at the photo's resolution."""
    per: dict[str, list] = {}
    ms = []
    for s in samples:
        h, w = s.image.shape[:2]
        t = time.perf_counter()
        prob = model(s.image)
        ms.append((time.perf_counter() - t) * 1000)
        prob = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        per.setdefault(s.name.split("/")[0], []).append(iou_dice(prob > 0.5, s.mask > 127))
    out = {k: dict(zip(("miou", "person_iou", "dice"), np.mean(v, axis=0).round(4).tolist(), strict=True))
           | {"images": len(v)} for k, v in per.items()}
    out["ms_per_image"] = round(float(np.median(ms)), 2)
    return out


EMPTY_SIZE = (640, 360)  # the empty rooms are framed as a webcam frame of this size


def false_alarms(model, rooms: list[np.ndarray]) -> dict[str, float]:
    """On photos of rooms with nobody in them: the mean share of the frame called person (> 0.5), and the share of
    rooms where more than 0.5% and 2% of the frame is (a chair or a coat left unpainted, a hole in the plate)."""
    shares = np.array([float((model(room) > 0.5).mean()) for room in rooms])
    return {"rooms": len(rooms), "mean_share": round(float(shares.mean()), 4),
            "rooms_over_0.5%": round(float((shares > 0.005).mean()), 4),
            "rooms_over_2%": round(float((shares > 0.02).mean()), 4)}


def empty_rooms(data: Path) -> list[np.ndarray]:
    """The background photos the person net never trains on (``seg_data.background_paths``), framed as webcam
    frames."""
    from realtime.composite import fit_background

    out = []
    for p in background_paths(data / "backgrounds", held_out=True):
        img = cv2.imread(str(p))
        if img is not None:
            out.append(fit_background(img, EMPTY_SIZE))
    return out


BYSTANDER_FRAMES = 24


def bystander_frames(data: Path, count: int = BYSTANDER_FRAMES) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame, uint8 mask of the bystander's visible pixels) pairs: a held-out room (``empty_rooms``) framed as a
    webcam frame, a person in the middle (half-body) and a second one nearer the camera (head and shoulders in the
    frame), 25-55% of their width inside the left or right edge; both are the plate clips' cut-outs, which the
    person net never trains on."""
    from export.evaluate_plate import CASTS, _cutout, _cutout_paths

    rooms = empty_rooms(data)
    if not rooms or not _cutout_paths(data):
        return []
    people = sorted({person for _, person in CASTS})
    w, h = EMPTY_SIZE
    out = []
    for i in range(count):
        frame = rooms[(i * 7) % len(rooms)].copy()
        main_c, main_a = _cutout(data, people[(i + 1) % len(people)], int(h * 1.6))
        by_c, by_a = _cutout(data, people[i % len(people)], int(h * (1.6, 2.2, 2.8)[i % 3]))
        paste(frame, np.zeros((h, w), np.uint8), main_c, main_a, (w - main_a.shape[1]) // 2, int(h * 0.1))
        by_mask = np.zeros((h, w), np.uint8)
        inside = round(by_a.shape[1] * (0.25, 0.4, 0.55)[(i // 9) % 3])  # the visible share, on alternate sides
        paste(frame, by_mask, by_c, by_a, w - inside if i % 2 else inside - by_a.shape[1],
              int(h * (0.0, 0.05, 0.1)[(i // 3) % 3]))
        out.append((frame, by_mask))
    return out


def bystanders(model, frames: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Share of each bystander's visible pixels called person (> 0.5): the mean, and the share of frames where
    it is at least 80%."""
    recall = []
    for frame, mask in frames:
        prob = cv2.resize(model(frame).astype(np.float32), EMPTY_SIZE, interpolation=cv2.INTER_LINEAR)
        recall.append(float((prob[mask > 0] > 0.5).mean()))
    return {"frames": len(frames), "mean_recall": round(float(np.mean(recall)), 4),
            "frames_over_80%": round(float((np.array(recall) > 0.8).mean()), 4)}


def stability(model, clips: list[Path], width: int = 640) -> tuple[dict[str, float], dict[str, float]]:
    """Mean absolute change of the mask between consecutive frames, per clip (0..1 scale): of the raw
    model output, and after the runtime's temporal ``MaskSmoother`` (default settings) on the same masks."""
    from realtime.composite import MaskSmoother
    from realtime.config import Settings

    raw, smoothed = {}, {}
    for clip in clips:
        cap = cv2.VideoCapture(str(clip))
        smoother = MaskSmoother(Settings().mask_smoothing)
        prev, prev_s, diffs, diffs_s = None, None, [], []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            m = cv2.resize(model(f).astype(np.float32), (width // 4, width * f.shape[0] // f.shape[1] // 4))
            s = smoother(m).copy()
            if prev is not None:
                diffs.append(float(np.abs(m - prev).mean()))
                diffs_s.append(float(np.abs(s - prev_s).mean()))
            prev, prev_s = m, s
        cap.release()
        raw[clip.stem] = round(float(np.mean(diffs)), 5) if diffs else float("nan")
        smoothed[clip.stem] = round(float(np.mean(diffs_s)), 5) if diffs_s else float("nan")
    return raw, smoothed


def picture(models, clips: list[Path], path: Path) -> None:
    """A grid: rows = frames from webcam clips, columns = frame, then each model's matte."""
    rows = []
    for clip in clips:
        cap = cv2.VideoCapture(str(clip))
        cap.set(cv2.CAP_PROP_POS_FRAMES, 20)
        ok, f = cap.read()
        cap.release()
        if not ok:
            continue
        f = cv2.resize(f, (320, 240))
        cells = [f]
        for m in models:
            matte = cv2.resize(m(f).astype(np.float32), (320, 240))
            tint = f.copy()
            tint[matte < 0.5] = (tint[matte < 0.5] * 0.25).astype(np.uint8)
            cells.append(tint)
        rows.append(np.hstack(cells))
    head = np.full((28, rows[0].shape[1], 3), 255, np.uint8)
    for i, label in enumerate(["frame"] + [m.name for m in models]):
        cv2.putText(head, label, (6 + 320 * i, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), np.vstack([head] + rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_ROOT)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--picture", type=Path, default=None)
    ap.add_argument("--no-mediapipe", action="store_true")
    ap.add_argument("--model", type=Path, default=None, help="a candidate .onnx (default: the shipped person model)")
    ap.add_argument("--flip", action="store_true",
                    help="average ours with its mirror image's mask (mask-flip)")
    ap.add_argument("--long-side", type=int, default=None,
                    help="our input size on the longer side (default: the net's own, as the runtime feeds it: 256 for "
                         "person.onnx, 384 for person-full.onnx)")
    args = ap.parse_args()
    seg = args.data / "segmentation"
    names = validation_names()
    samples = [s for sub in ("portraits", "fullbody") for s in load_pairs(seg, sub, None) if s.name in names]
    models = [Ours(model=args.model, flip=args.flip, long_side=args.long_side)]
    if not args.no_mediapipe:
        try:
            models.append(MediaPipeSelfie())
        except ImportError:
            print("mediapipe not installed (pip install mediapipe==0.10.14); comparing nothing")
    clips = sorted((args.data / "video" / "webcam_clips").glob("*.mkv"))
    rooms = empty_rooms(args.data)
    others = bystander_frames(args.data)
    report = {}
    for m in models:
        raw, smoothed = stability(m, clips)
        r = report[m.name] = {"validation": score(m, samples), "mask_change_per_frame": raw,
                              "mask_change_per_frame_smoothed": smoothed}
        r["mask_change_mean"] = round(float(np.mean(list(raw.values()))), 5) if clips else float("nan")
        r["mask_change_smoothed_mean"] = round(float(np.mean(list(smoothed.values()))), 5) if clips else float("nan")
        if rooms:
            r["empty_rooms"] = false_alarms(m, rooms)
        if others:
            r["bystanders"] = bystanders(m, others)
        v = r["validation"]
        print(f"{m.name}: " + ", ".join(f"{k} mIoU {v[k]['miou']:.4f} Dice {v[k]['dice']:.4f}"
                                        for k in ("portraits", "fullbody") if k in v)
              + f", {v['ms_per_image']} ms/image, mask change/frame {r['mask_change_mean']:.4f}"
              + f" ({r['mask_change_smoothed_mean']:.4f} after the runtime's smoothing)"
              + ("" if not rooms else f"; empty rooms: {r['empty_rooms']['mean_share']:.2%} of the frame called "
                 f"person, {r['empty_rooms']['rooms_over_2%']:.0%} of {len(rooms)} rooms over 2%")
              + ("" if not others else f"; bystanders: {r['bystanders']['mean_recall']:.1%} called person"))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.picture and clips:
        picture(models, clips[::3][:5], args.picture)


if __name__ == "__main__":
    main()

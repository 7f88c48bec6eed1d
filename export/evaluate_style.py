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

The model card's figures (`--card FILE.json`, with `--contact FILE.png`): each network at the resolution it paints
(whole frames: held-out room photos at 640x360, one frame of each webcam clip at 640x480), with the measures of
export/style_metrics.py against the teacher painting the same frames: style score, palette distance to the
painting, detail ratio, flicker as painted per frame (no smoothing), the lattice on a flat wall (as the network
paints it: at the painted size, not enlarged), the seam around a person-shaped hole filled as the plate fills it,
the person's legibility (ours and the teacher's: how much of the frame's edges the painting keeps inside the
person, on the frames the person net finds one in), and ms per frame on 2 threads at 640x360 and 1280x720 (with
`--card-scale S`, painted at S times the frame as the runtime's style scale does, and timed at that size):

    python -m export.evaluate_style --card docs/style_card.json --contact docs/style_contact.jpg \
        --styles udnie,udnie-full,udnie-full.int8,"udnie-full (before)=/tmp/old/udnie-full.onnx"

(``LABEL=NETWORK`` files a network under another name in the card and on the sheet; entries are split on commas,
so a label holds none.)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from export.catalog import DATA_ROOT, PAINTINGS
from export.style_metrics import detail, flat_wall, lattice, legibility, paint_wall, palette_distance

RUNTIME_SCALE = 0.5  # the runtime's default --style-scale


class StyleStage:
    """The style stage as the runtime runs it: the network, then the stream's painting smoother."""

    def __init__(self, name: str, scale: float, smoothing: float) -> None:
        from realtime.inference import open_session
        from realtime.models import resolve_style
        from realtime.stylize import PaintingSmoother, Stylizer

        session = open_session(resolve_style(name), "style-transfer", "cpu", 2)
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
    return Teacher(data / "styles" / f"{read_style(name)}.jpg", threads=2)


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


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def card_frames(data: Path, rooms: int = 6) -> list[np.ndarray]:
    """Held-out room photos at 640x360 and the middle frame of each webcam clip at 640x480."""
    from export.style_data import held_out_rooms
    from realtime.composite import fit_background

    frames = [fit_background(cv2.imread(str(p)), (640, 360)) for p in held_out_rooms(data)[:rooms]]
    for clip in sorted((data / "video" / "webcam_clips").glob("*.mkv")):
        got = clip_frames(clip, 30)
        if got:
            frames.append(got[-1])
    return frames


def person_masks(frames: list[np.ndarray], min_share: float = 0.05) -> list[np.ndarray | None]:
    """Per frame, where the shipped person net finds a person (eroded 4 px off the outline, so the measure is the
    person's inside), or None where it finds less than ``min_share`` of the frame."""
    from export.evaluate_segmentation import Ours

    segment = Ours()
    out = []
    for f in frames:
        m = (cv2.resize(segment(f), (f.shape[1], f.shape[0])) > 0.5).astype(np.uint8)
        m = cv2.erode(m, np.ones((9, 9), np.uint8)) > 0
        out.append(m if m.mean() >= min_share else None)
    return out


def seam(paint, frame: np.ndarray, shapes: list[np.ndarray], seed: int = 0) -> float:
    """Mean |luma difference| between the painting of the room with a person-shaped hole (filled as the plate
    fills it) and the painting of the whole room, 3-20 px outside the hole: the line a network paints there."""
    from export.style_data import holed, place_hole, seam_ring

    rng = np.random.default_rng(seed)
    whole = cv2.cvtColor(paint(frame), cv2.COLOR_BGR2GRAY).astype(np.float32)
    out = []
    for _ in range(3):
        hole = place_hole(shapes[rng.integers(len(shapes))], *frame.shape[:2], rng)
        filled, _ = holed(frame, hole)
        diff = np.abs(cv2.cvtColor(paint(filled), cv2.COLOR_BGR2GRAY).astype(np.float32) - whole)
        # the training term's ring (HOLE_RING px outside the hole) less the 3 px the person's feather covers
        ring = (seam_ring(hole) > 0) & (cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))) == 0)
        out.append(float(diff[ring].mean()))
    return float(np.mean(out))


CARD_SIZES = ((640, 360), (1280, 720))  # the frame sizes the card times a network at


def speed(name: str, sizes=CARD_SIZES, runs: int = 5) -> dict[str, float]:
    """Median ms per frame on 2 CPU threads (ONNX Runtime, as the runtime opens it)."""
    import time

    from realtime.inference import open_session
    from realtime.models import resolve_style

    session = open_session(resolve_style(name), "style-transfer", "cpu", 2)
    out = {}
    for w, h in sizes:
        x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
        session.run(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            session.run(x)
            times.append(time.perf_counter() - t0)
        out[f"ms_{w}x{h}"] = round(float(np.median(times)) * 1000, 1)
    return out


def card(name: str, data: Path, frames: list[np.ndarray], clips: int, timing: bool,
         scale: float = 1.0) -> dict[str, object]:
    """The model card's figures for the network ``name`` (see the module's docstring), painted at ``scale`` times
    the frame size and enlarged back as the runtime does (0.5: the fast nets' size on a CPU)."""
    from export.style_data import person_shapes
    from realtime.models import resolve_style
    from realtime.stylize import style_size

    net, tch = student(name, scale, smoothing=0.0), teacher(name, data)
    painting = cv2.imread(str(data / "styles" / f"{read_style(name)}.jpg"))
    ours, theirs = [net(f) for f in frames], [tch.paint_frame(f) for f in frames]
    row: dict[str, object] = {
        "style_score": np.mean([tch.style_score(o) for o in ours]),
        "teacher_style_score": np.mean([tch.style_score(t) for t in theirs]),
        "palette": np.mean([palette_distance(o, painting) for o in ours]),
        "teacher_palette": np.mean([palette_distance(t, painting) for t in theirs]),
        "detail_ratio": np.mean([detail(o) / max(detail(t), 1e-6) for o, t in zip(ours, theirs, strict=True)]),
        # on the network's own output: enlarged 1/scale times, its 4 px grid is wider than the measure's period
        "lattice": lattice(paint_wall(resolve_style(name), flat_wall(*style_size(640, 360, scale)))),
        "seam": np.mean([seam(net, f, person_shapes(data)) for f in frames[:4]]),
    }
    people = [(i, m) for i, m in enumerate(person_masks(frames)) if m is not None]
    row["person_legibility"] = np.mean([legibility(ours[i], frames[i], m) for i, m in people]) if people else None
    row["teacher_person_legibility"] = (np.mean([legibility(theirs[i], frames[i], m) for i, m in people])
                                        if people else None)
    videos = sorted((data / "video" / "webcam_clips").glob("*.mkv"))[:clips]
    row["flicker"] = np.mean([flicker(net, clip_frames(v, 30)) for v in videos]) if videos else None
    row = {k: None if v is None else round(float(v), 4) for k, v in row.items()}
    if scale != 1.0:
        row["scale"] = scale
    if timing:
        row |= speed(name, tuple(style_size(w, h, scale) for w, h in CARD_SIZES))  # timed at the painted size
    return row


def read_style(name: str) -> str:
    """The painting a network learned (its ``style`` metadata: udnie-full -> udnie)."""
    from realtime.models import read_info, resolve_style

    return read_info(resolve_style(name)).metadata.get("style", name)


def contact_sheet(names: list[str], data: Path, frames: list[np.ndarray], path: Path,
                  labels: list[str] | None = None, scale: float = 1.0) -> None:
    """One row per frame: the frame, then per painting its networks and the teacher painting it (labelled with
    the painting when the sheet has more than one), tiles at 320 px wide."""
    labels = labels or names
    groups: dict[str, list[tuple[str, str]]] = {}  # painting -> its (network, label), in the order given
    for n, text in zip(names, labels, strict=True):
        groups.setdefault(read_style(n), []).append((n, text))
    teachers = {style: teacher(group[0][0], data) for style, group in groups.items()}

    def tile(img: np.ndarray, text: str) -> np.ndarray:
        return label(cv2.resize(img, (320, 320 * img.shape[0] // img.shape[1]), interpolation=cv2.INTER_AREA), text)

    nets = {n: student(n, scale, smoothing=0.0) for n in names}
    rows = []
    for f in frames:
        tiles = [tile(f, "frame")]
        for style, group in groups.items():
            tiles += [tile(nets[n](f), text) for n, text in group]
            tiles.append(tile(teachers[style].paint_frame(f), "teacher" if len(groups) == 1 else f"teacher: {style}"))
        rows.append(np.hstack(tiles))
    cv2.imwrite(str(path), np.vstack(rows))


def main(argv: list[str] | None = None) -> None:
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
    ap.add_argument("--card", type=Path, help="add the model card's figures for --styles to this JSON file (the "
                                              "other networks' entries are kept) and stop")
    ap.add_argument("--contact", type=Path, help="with --card: frame | each network | teacher (PNG)")
    ap.add_argument("--no-timing", action="store_true", help="with --card: leave out ms (the CPU is busy)")
    ap.add_argument("--card-scale", type=float, default=1.0,
                    help="with --card: the networks paint at this times the frame size, enlarged back (0.5: as the "
                         "fast nets paint live on a CPU, 320x180 of a 640x360 frame; ms then at 320x180 and 640x360)")
    args = ap.parse_args(argv)
    names = [s for s in args.styles.split(",") if s]
    labelled = dict(n.split("=", 1) if args.card and "=" in n else (n, n) for n in names)  # labels: the card's
    from realtime.errors import RealtimeError
    from realtime.models import resolve_style
    for entry, spec in labelled.items():  # all of them before minutes of work, in one line
        try:
            resolve_style(spec)
        except RealtimeError as exc:
            ap.error(f"--styles entry {entry if entry == spec else f'{entry}={spec}'!r}: {exc} (entries are "
                     "LABEL=FILE or a style, split on commas: a label cannot hold one)")
    if args.card:
        frames = card_frames(args.data)
        report = {label: card(spec, args.data, frames, min(args.clips, 5), not args.no_timing, args.card_scale)
                  for label, spec in labelled.items()}
        kept = json.loads(args.card.read_text()) if args.card.is_file() else {}
        args.card.write_text(json.dumps(kept | report, indent=2))
        print(json.dumps(report, indent=1))
        if args.contact:
            picks = [frames[0], frames[2], frames[6], frames[9]] if len(frames) > 9 else frames[:4]
            contact_sheet(list(labelled.values()), args.data, picks, args.contact, list(labelled), args.card_scale)
        return
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

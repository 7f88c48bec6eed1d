"""What the style nets train on: frames at the size they will paint (the full net 640x360, the fast one 320x180),
the teacher's paintings of them (cached on disk), real video frame pairs, person-shaped holes filled as the
background plate fills them, and the random batches cut from all of these at each step."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from export.common import Stopped, stopped, to_tensor
from export.seg_data import HELD_OUT_EVERY  # the held-out style score's rooms are the person net's held-out rooms
from export.teacher import Teacher
from realtime.plate import fill

# (folder under the data root, share of the frames): webcam-like indoor scenes matter most; the small room photos
# (236 px wide) are left out, as they would be enlarged 3x to frame size
CONTENT_MIX = (
    ("backgrounds/rooms", 0.45), ("backgrounds/misc", 0.15), ("segmentation/portraits/images", 0.15),
    ("segmentation/fullbody/images", 0.05), ("content/bsds500", 0.2),
)
FRAME = (640, 360)  # the plate's size live on a CPU: strokes are learned at the size a viewer sees them
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def held_out_rooms(data: Path) -> list[Path]:
    """The room photos kept out of training, on which the style score is measured while training."""
    return _images(data / "backgrounds/rooms")[::HELD_OUT_EVERY]


def content_paths(data: Path, extra: Path | None = None) -> list[tuple[list[Path], float]]:
    """Image lists with their sampling share (``extra``: a user's own folder of photos, used alone)."""
    if extra is not None:
        return [(_images(extra), 1.0)]
    held_out = set(held_out_rooms(data))
    out = []
    for folder, share in CONTENT_MIX:
        files = [f for f in _images(data / folder) if f not in held_out]
        if files:
            out.append((files, share))
    return out


def frame_crop(img: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = FRAME) -> np.ndarray:
    """A ``size`` (w, h) frame from a photo: scaled to cover it (and up to 30% more, so objects vary in size),
    a random crop, mirrored half the time."""
    w, h = size
    scale = max(w / img.shape[1], h / img.shape[0]) * rng.uniform(1.0, 1.3)
    dsize = (max(w, round(img.shape[1] * scale)), max(h, round(img.shape[0] * scale)))
    big = cv2.resize(img, dsize, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y, x = rng.integers(dsize[1] - h + 1), rng.integers(dsize[0] - w + 1)
    crop = big[y:y + h, x:x + w]
    return np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)


def _read(sources: list[tuple[list[Path], float]], shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    while True:
        files = sources[rng.choice(len(sources), p=shares)][0]
        img = cv2.imread(str(files[rng.integers(len(files))]), cv2.IMREAD_COLOR)
        if img is not None and min(img.shape[:2]) >= 64:
            return img


def build_pairs(teacher: Teacher, sources: list[tuple[list[Path], float]], count: int, seed: int,
                cache: Path | None = None, size: tuple[int, int] = FRAME,
                walls: float = 0.0, stop=None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (frame, teacher's painting) pairs as uint8 BGR N x H x W x 3 arrays of ``size`` (w, h), cached in
    ``cache``. The teacher paints each whole frame as the measures do: at 384 px on the longer side, enlarged
    back (``Teacher.paint_frame``). The last ``walls`` share of the frames are plain walls (``plain_walls``, from
    their own generator: the photos drawn are the same with or without them), so the student learns how the
    teacher paints the plain walls a call's background is full of. ``stop`` (a ``threading.Event``) set: ``Stopped``
    before the next frame (nothing is cached)."""
    n_walls = round(count * walls)
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            cached_walls = int(z["walls"]) if "walls" in z else 0
            # walls are the last frames, so only a cache without them may serve its first ``count``
            enough = len(z["content"]) == count or (len(z["content"]) > count and not n_walls)
            if enough and cached_walls == n_walls and z["content"].shape[1:3] == (size[1], size[0]):
                return z["content"][:count], z["target"][:count]
    rng = np.random.default_rng(seed)
    shares = np.array([s for _, s in sources], np.float64)
    shares /= shares.sum()
    content = np.empty((count, size[1], size[0], 3), np.uint8)
    content[count - n_walls:] = plain_walls(n_walls, size, np.random.default_rng([seed, 1]))
    target = np.empty_like(content)
    for i in tqdm(range(count), desc="teacher"):
        if stopped(stop):
            raise Stopped(f"stopped while the teacher painted ({i} of {count} frames; not kept)")
        if i < count - n_walls:
            content[i] = frame_crop(_read(sources, shares, rng), rng, size)
        target[i] = teacher.paint_frame(content[i])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, content=content, target=target, walls=n_walls)
    return content, target


def plain_frames(sources: list[tuple[list[Path], float]], count: int, seed: int,
                 size: tuple[int, int] = FRAME) -> np.ndarray:
    """``count`` random frames (uint8 BGR) with no painting: the perceptual loss needs none."""
    rng = np.random.default_rng(seed)
    shares = np.array([s for _, s in sources], np.float64)
    shares /= shares.sum()
    return np.stack([frame_crop(_read(sources, shares, rng), rng, size) for _ in range(count)])


# --- person-shaped holes, filled the way the background plate fills them -------------------------------
HOLE_MARGIN = 3  # px the plate grows the person by (realtime.config's plate-margin default)
HOLE_INSIDE = 8  # px inside a hole's edge still scored: the person's feathered edge shows them
HOLE_RING = 20  # px outside a hole where the seam term compares the paintings (the plate clips' ring, 3-20 px
# outside the person, is 0-17 px outside the plate's grown hole)


def person_shapes(data: Path, limit: int = 200) -> list[np.ndarray]:
    """Person silhouettes (uint8 0/255, cropped to the person) from the data folder's RGBA cut-outs."""
    shapes = []
    for path in _images(data / "segmentation/cutouts")[:limit]:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.ndim != 3 or img.shape[2] != 4:
            continue
        alpha = cv2.compare(img[..., 3], 127, cv2.CMP_GT)
        x, y, w, h = cv2.boundingRect(alpha)
        if w >= 8 and h >= 16:
            shapes.append(alpha[y:y + h, x:x + w])
    return shapes


def place_hole(shape: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A uint8 0/255 ``h`` x ``w`` mask with ``shape`` scaled to 70-200% of the height, standing on the bottom edge
    or cut by it as a webcam sees a person, grown by the plate's margin."""
    sh = max(8, round(h * rng.uniform(0.7, 2.0)))
    sw = max(4, round(shape.shape[1] * sh / shape.shape[0]))
    person = cv2.resize(shape, (sw, sh), interpolation=cv2.INTER_NEAREST)
    out = np.zeros((h, w), np.uint8)
    top = h - round(sh * rng.uniform(0.5, 1.0))
    left = rng.integers(-sw // 3, max(1, w - 2 * sw // 3))
    ys, xs = slice(max(0, top), min(h, top + sh)), slice(max(0, left), min(w, left + sw))
    out[ys, xs] = person[ys.start - top:ys.stop - top, xs.start - left:xs.stop - left]
    k = 2 * HOLE_MARGIN + 1
    return cv2.dilate(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))


def holed(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the image with the hole filled as the plate fills never-seen pixels, the loss weight: 0 deeper than
    HOLE_INSIDE px inside the hole, where the person covers the painting, else 1; float32)."""
    filled = fill(image.astype(np.float32), cv2.bitwise_not(hole))
    k = 2 * HOLE_INSIDE + 1
    deep = cv2.erode(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return filled, (deep == 0).astype(np.float32)


def seam_ring(hole: np.ndarray) -> np.ndarray:
    """float32 1 within HOLE_RING px outside ``hole`` (uint8 0/255), else 0: where a painting of the room must
    not show what the hole was filled with."""
    k = 2 * HOLE_RING + 1
    near = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return ((near > 0) & (hole == 0)).astype(np.float32)


# Real video for the still-scene term: never the webcam clips, which are the flicker evaluation set.
VIDEO_FOLDERS = ("video/corridor", "video/head_pose")
VIDEO_HEIGHT = FRAME[1]
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".gif")


def video_files(data: Path, extra: Path | None = None) -> list[Path]:
    """Videos for the still-scene term: ``extra`` (a file, or a folder of your own recordings) if given, else
    the data folder's corridor and head_pose videos (never webcam_clips)."""
    if extra is not None:
        found = [extra] if extra.is_file() else sorted(extra.rglob("*"))
    else:
        found = [p for folder in VIDEO_FOLDERS for p in sorted((data / folder).glob("*"))]
    return [p for p in found if p.suffix.lower() in VIDEO_SUFFIXES]


def video_pairs(files: list[Path], count: int, seed: int, height: int = VIDEO_HEIGHT) -> np.ndarray:
    """``count`` pairs of consecutive frames (uint8 BGR, N x 2 x H x W x 3 at ``height`` px) from ``files``.
    Their change in the still parts is real sensor and codec noise, which synthetic noise only approximates.
    Empty (0 pairs) when no file has two frames."""
    clips = []
    for path in files:
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            h, w = f.shape[:2]
            frames.append(cv2.resize(f, (max(height, round(w * height / h)), height), interpolation=cv2.INTER_AREA))
        cap.release()
        if len(frames) > 1:
            clips.append(frames)
    if not clips:
        return np.empty((0, 2, height, height, 3), np.uint8)
    width = min(c[0].shape[1] for c in clips)
    rng = np.random.default_rng(seed)
    out = np.empty((count, 2, height, width, 3), np.uint8)
    for i in range(count):
        frames = clips[rng.integers(len(clips))]
        t = rng.integers(len(frames) - 1)
        x = rng.integers(frames[t].shape[1] - width + 1)
        out[i] = [frames[t][:, x:x + width], frames[t + 1][:, x:x + width]]
    return out


def sample_batch(content: np.ndarray, target: np.ndarray | None, size: int, batch: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """``batch`` random ``size`` px squares, each from its own place, cut alike from ``content`` and ``target``."""
    idx = rng.integers(len(content), size=batch)
    h, w = content.shape[1:3]
    ys, xs = rng.integers(h - size + 1, size=batch), rng.integers(w - size + 1, size=batch)
    c = np.stack([content[i, y:y + size, x:x + size] for i, y, x in zip(idx, ys, xs, strict=True)])
    if target is None:
        return c, None
    return c, np.stack([target[i, y:y + size, x:x + size] for i, y, x in zip(idx, ys, xs, strict=True)])


def plain_walls(count: int, size: int | tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``count`` plain walls, uint8 BGR, squares of ``size`` px or frames of ``size`` (w, h): a colour from dark to
    light, a gentle shading in a random direction, sensor noise of 0-6 grey levels. The rooms have little of it,
    and it is where a lattice shows."""
    w, h = (size, size) if isinstance(size, int) else size
    yy, xx = np.mgrid[:h, :w].astype(np.float32) / max(w, h) - 0.5
    walls = np.empty((count, h, w, 3), np.uint8)
    for i in range(count):
        colour = rng.uniform(40, 220) * rng.uniform(0.8, 1.2, 3)
        angle = rng.uniform(0, 2 * np.pi)
        shade = 1 + rng.uniform(0, 0.3) * (np.cos(angle) * yy + np.sin(angle) * xx)
        wall = colour * shade[..., None] + rng.normal(0, rng.uniform(0, 6), (h, w, 3))
        walls[i] = np.clip(wall, 0, 255)
    return walls


def sample_video(video: np.ndarray, size: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """``batch`` frame pairs cropped alike (random place, random mirror): first frames, then second frames."""
    idx = rng.integers(len(video), size=batch)
    h, w = video.shape[2:4]
    y, x = rng.integers(h - size + 1), rng.integers(w - size + 1)
    crops = video[idx, :, y:y + size, x:x + size]
    if rng.random() < 0.5:
        crops = crops[:, :, :, ::-1]
    return np.concatenate([crops[:, 0], crops[:, 1]])


@dataclass
class StyleData:
    """The style net's training images, uint8 BGR: frames, the teacher's paintings of them (None for the perceptual
    loss), consecutive video frame pairs for the still-scene term (None without it), and person silhouettes
    (empty: no holes) cut into a ``holes`` share of the inputs; ``walls`` plain walls a step (``plain_walls``)."""

    content: np.ndarray
    target: np.ndarray | None = None
    video: np.ndarray | None = None
    shapes: list[np.ndarray] = field(default_factory=list)
    holes: float = 0.0
    still_share: float = 0.5  # of the steps that take video pairs: the term costs as much as the student's own pass
    walls: int = 0

    def sample(self, size: int, batch: int, rng: np.random.Generator, device: torch.device) -> Batch:
        """One step's tensors on ``device``: ``batch`` squares of ``size`` px (some with a person-shaped hole,
        filled), their paintings of the whole room, the loss weights, and on a ``still_share`` of the steps
        ``batch // 2`` video frame pairs; ``walls`` plain walls (from a child of ``rng``, so the rest of the
        draws are the same with or without them)."""
        content, target = sample_batch(self.content, self.target, size, batch, rng)
        weight = np.ones(content.shape[:3], np.float32)
        ring = np.zeros(content.shape[:3], np.float32)
        inputs = content.astype(np.float32)
        for i in range(batch):
            if self.shapes and rng.random() < self.holes:
                hole = place_hole(self.shapes[rng.integers(len(self.shapes))], size, size, rng)
                inputs[i], weight[i] = holed(content[i], hole)
                ring[i] = seam_ring(hole)
        x = torch.from_numpy(np.ascontiguousarray(inputs[..., ::-1].transpose(0, 3, 1, 2))) / 255
        still = None
        if self.video is not None and rng.random() < self.still_share:
            still = to_tensor(sample_video(self.video, size, batch // 2, rng)).to(device).chunk(2)
        walls = to_tensor(plain_walls(self.walls, size, rng.spawn(1)[0])).to(device) if self.walls else None
        holes = ring.any((1, 2))
        whole = to_tensor(content[holes]).to(device) if holes.any() else None
        return Batch(x.to(device), None if target is None else to_tensor(target).to(device),
                     torch.from_numpy(weight)[:, None].to(device), still, walls,
                     torch.from_numpy(holes).to(device), whole, torch.from_numpy(ring[holes])[:, None].to(device))


@dataclass
class Batch:
    """One training step's tensors: ``x`` the inputs (N x 3 x H x W, RGB 0..1), ``target`` the teacher's paintings,
    ``weight`` (N x 1 x H x W) 0 where a hole's inside does not count, ``still`` video pairs (first, second),
    ``walls`` plain walls (RGB 0..1) or None; ``holes`` (N bools) which inputs have a hole, ``whole`` those inputs
    without it (None: no holes this step) and ``ring`` their seam rings (``seam_ring``)."""

    x: torch.Tensor
    target: torch.Tensor | None
    weight: torch.Tensor
    still: tuple[torch.Tensor, torch.Tensor] | None
    walls: torch.Tensor | None = None
    holes: torch.Tensor | None = None
    whole: torch.Tensor | None = None
    ring: torch.Tensor | None = None

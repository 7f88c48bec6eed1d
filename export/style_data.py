"""What the style nets train on: content crops, the teacher's paintings of them (cached on disk), real video frame
pairs, and the random batches cropped from them at each step."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from export.common import to_tensor
from export.teacher import SIZE, Teacher

# (folder under the data root, share of the crops): webcam-like indoor scenes matter most
CONTENT_MIX = (
    ("backgrounds/rooms", 0.35), ("backgrounds/rooms_small", 0.15), ("backgrounds/misc", 0.1),
    ("segmentation/portraits/images", 0.15), ("segmentation/fullbody/images", 0.05), ("content/bsds500", 0.2),
)
STORE = 256  # pairs are stored at this size; training crops from them


def content_paths(data: Path, extra: Path | None = None) -> list[tuple[list[Path], float]]:
    """Image lists with their sampling share (``extra``: a user's own folder of photos, used alone)."""
    if extra is not None:
        return [(sorted(p for p in extra.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")), 1.0)]
    out = []
    for folder, share in CONTENT_MIX:
        files = sorted(p for p in (data / folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if files:
            out.append((files, share))
    return out


def random_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random square crop covering 50-100% of the short side, resized to the teacher's 384x384."""
    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.5, 1.0))
    y, x = rng.integers(h - side + 1), rng.integers(w - side + 1)
    crop = img[y:y + side, x:x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def build_pairs(teacher: Teacher, sources: list[tuple[list[Path], float]], count: int, seed: int,
                cache: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (content, teacher output) pairs as uint8 BGR N x 256 x 256 x 3 arrays, cached in ``cache``."""
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            if len(z["content"]) >= count:
                return z["content"][:count], z["target"][:count]
    rng = np.random.default_rng(seed)
    shares = np.array([s for _, s in sources], np.float64)
    shares /= shares.sum()
    content = np.empty((count, STORE, STORE, 3), np.uint8)
    target = np.empty_like(content)
    for i in tqdm(range(count), desc="teacher"):
        while True:
            files = sources[rng.choice(len(sources), p=shares)][0]
            img = cv2.imread(str(files[rng.integers(len(files))]), cv2.IMREAD_COLOR)
            if img is not None and min(img.shape[:2]) >= 64:
                break
        crop = random_crop(img, rng)
        painted = teacher(crop)
        content[i] = cv2.resize(crop, (STORE, STORE), interpolation=cv2.INTER_AREA)
        target[i] = cv2.resize(painted, (STORE, STORE), interpolation=cv2.INTER_AREA)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, content=content, target=target)
    return content, target


def plain_crops(sources: list[tuple[list[Path], float]], count: int, seed: int) -> np.ndarray:
    """``count`` random crops (uint8 BGR N x 256 x 256 x 3) with no painting: the perceptual loss needs none."""
    rng = np.random.default_rng(seed)
    files = [f for fs, _ in sources for f in fs]
    out = []
    while len(out) < count:
        img = cv2.imread(str(files[rng.integers(len(files))]))
        if img is not None:
            out.append(cv2.resize(random_crop(img, rng), (STORE, STORE), interpolation=cv2.INTER_AREA))
    return np.stack(out)


# Real video for the still-scene term: never the webcam clips, which are the flicker evaluation set.
VIDEO_FOLDERS = ("video/corridor", "video/head_pose")
VIDEO_HEIGHT = 240  # a 480p webcam at the runtime's CPU style scale (0.5)
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
    """``batch`` random images cropped alike (one place for the whole batch) from ``content`` and ``target``."""
    idx = rng.integers(len(content), size=batch)
    s = content.shape[1]
    y, x = rng.integers(s - size + 1), rng.integers(s - size + 1)
    c = content[idx, y:y + size, x:x + size]
    return c, (target[idx, y:y + size, x:x + size] if target is not None else None)


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
    """The style net's training images, uint8 BGR: content crops, the teacher's paintings of them (None for the
    perceptual loss) and consecutive video frame pairs for the still-scene term (None without it)."""

    content: np.ndarray
    target: np.ndarray | None = None
    video: np.ndarray | None = None

    def sample(self, size: int, batch: int, rng: np.random.Generator, device: torch.device
               ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, torch.Tensor] | None]:
        """One step's tensors on ``device``: ``batch`` content crops of ``size`` px, their paintings, and
        ``batch // 2`` video frame pairs as (first frames, second frames)."""
        content, target = sample_batch(self.content, self.target, size, batch, rng)
        still = None
        if self.video is not None:
            still = to_tensor(sample_video(self.video, size, batch // 2, rng)).to(device).chunk(2)
        return to_tensor(content).to(device), None if target is None else to_tensor(target).to(device), still

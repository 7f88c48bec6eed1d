"""Person-segmentation training data: loading ../shared/data/segmentation and webcam-style augmentation."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SPLIT_FILE = Path(__file__).parent / "splits" / "segmentation_val.txt"
LOAD_SIDE = 384  # images are cached in memory with this longer side


@dataclass
class Sample:
    """One photo (BGR uint8) with its binary person mask (uint8 0/255, same size)."""

    name: str
    image: np.ndarray
    mask: np.ndarray


def _fit(img: np.ndarray, side: int, interp: int = cv2.INTER_AREA) -> np.ndarray:
    h, w = img.shape[:2]
    s = side / max(h, w)
    return img if s >= 1 else cv2.resize(img, (round(w * s), round(h * s)), interpolation=interp)


def load_pairs(root: Path, subset: str, side: int | None = LOAD_SIDE) -> list[Sample]:
    """Load ``subset`` ('portraits' or 'fullbody'); masks are resized to their photo (nearest)."""
    out = []
    for img_path in sorted((root / subset / "images").glob("*.jpg")):
        mask_path = root / subset / "masks" / (img_path.stem + ".png")
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if img is None or mask is None:
            continue
        mask = cv2.resize(mask, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
        if side:
            img, mask = _fit(img, side), _fit(mask, side, cv2.INTER_NEAREST)
        out.append(Sample(f"{subset}/{img_path.name}", img, np.where(mask > 127, 255, 0).astype(np.uint8)))
    return out


def load_cutouts(root: Path) -> list[Sample]:
    """RGBA person cut-outs as (BGR, alpha) samples."""
    out = []
    for p in sorted((root / "cutouts").glob("*.png")):
        rgba = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if rgba is not None and rgba.ndim == 3 and rgba.shape[2] == 4:
            out.append(Sample(f"cutouts/{p.name}", rgba[:, :, :3].copy(), rgba[:, :, 3].copy()))
    return out


BACKGROUND_FOLDERS = ("rooms", "rooms_small", "misc")
HELD_OUT_EVERY = 8  # every 8th background photo of each folder (sorted by name) is never trained on: the empty
# rooms on which false alarms are measured (for backgrounds/rooms, the style networks' held-out rooms too)


def background_paths(root: Path, held_out: bool = False) -> list[Path]:
    """The background photos the person net trains on, or (``held_out``) the ones kept out of its training."""
    out = []
    for folder in BACKGROUND_FOLDERS:
        paths = sorted((root / folder).glob("*.jpg"))
        out += [p for i, p in enumerate(paths) if (i % HELD_OUT_EVERY == 0) == held_out]
    return out


def load_backgrounds(root: Path, side: int = 512, held_out: bool = False) -> list[np.ndarray]:
    """Indoor background photos (rooms, rooms_small, misc): the training ones, or the held-out ones."""
    out = []
    for p in background_paths(root, held_out):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is not None:
            out.append(_fit(img, side))
    return out


def is_validation(name: str, fraction: float = 0.12) -> bool:
    """Deterministic hash split, used once to write the committed split file."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def validation_names() -> set[str]:
    """The fixed validation file list kept out of training (export/splits/segmentation_val.txt)."""
    return {line.strip() for line in SPLIT_FILE.read_text().splitlines() if line.strip()}


def iou_dice(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """(mIoU over person+background, person IoU, person Dice) of two boolean masks."""
    inter, union = np.logical_and(pred, gt).sum(), np.logical_or(pred, gt).sum()
    inter_b, union_b = np.logical_and(~pred, ~gt).sum(), np.logical_or(~pred, ~gt).sum()
    iou_p = inter / union if union else 1.0
    iou_b = inter_b / union_b if union_b else 1.0
    dice = 2 * inter / (pred.sum() + gt.sum()) if (pred.sum() + gt.sum()) else 1.0
    return float((iou_p + iou_b) / 2), float(iou_p), float(dice)


def letterbox(img: np.ndarray, width: int, height: int, interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize keeping aspect ratio and pad (edge replicate) to width x height."""
    h, w = img.shape[:2]
    s = min(width / w, height / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(img, (nw, nh), interpolation=interp)
    top, left = (height - nh) // 2, (width - nw) // 2
    return cv2.copyMakeBorder(small, top, height - nh - top, left, width - nw - left, cv2.BORDER_REPLICATE)


def check_share(share: float, what: str = "portrait share") -> None:
    """ValueError unless ``share`` is a probability (0..1)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{what} must be between 0 and 1, got {share}")


def paste(image: np.ndarray, mask: np.ndarray, colour: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """In place: ``colour`` (HxWx3) blended over ``image`` by ``alpha`` (uint8 HxW) with its top-left corner at
    (``x``, ``y``), cut by the frame's edges, and 255 in ``mask`` where the pasted alpha is over half."""
    h, w = mask.shape
    ah, aw = alpha.shape
    xs, ys, xe, ye = max(0, x), max(0, y), min(w, x + aw), min(h, y + ah)
    if xe <= xs or ye <= ys:
        return
    a = alpha[ys - y:ye - y, xs - x:xe - x].astype(np.float32)[..., None] / 255.0
    f = colour[ys - y:ye - y, xs - x:xe - x].astype(np.float32)
    image[ys:ye, xs:xe] = f * a + image[ys:ye, xs:xe] * (1 - a)
    mask[ys:ye, xs:xe] = np.where(a[..., 0] > 0.5, 255, mask[ys:ye, xs:xe])


class Augmenter:
    """Makes webcam-like training pairs of a fixed size from photos, masks, cut-outs and rooms."""

    def __init__(self, pairs: list[Sample], cutouts: list[Sample], backgrounds: list[np.ndarray],
                 size: tuple[int, int], seed: int, portrait_share: float | None = None, empty: float = 0.0,
                 cutout_share: float = 0.25, full_figure: float = 0.4, bystanders: float = 0.0) -> None:
        """``portrait_share``: chance that a photo is drawn from the portraits subset (default: as often as
        its share of ``pairs``). ``empty``: chance of a room with nobody in it (its mask all background): every
        other sample has a person, and a net that never sees an empty room takes chairs and clothes for one.
        ``cutout_share``: chance of a cut-out pasted into a room (else a photo); ``full_figure``: chance that a
        cut-out is framed whole, head to feet (else half-body, larger than the frame). ``bystanders``: chance that
        a frame with a person also shows a second one, a cut-out partly outside its left or right edge (a colleague
        leaning in, someone passing close to the camera): without them the net keeps only the top of such a head."""
        check_share(empty, "empty-room share")
        check_share(bystanders, "bystander share")
        if bystanders and not cutouts:
            raise ValueError("bystanders asked for, but there are no cut-outs to paste in")
        self.bystanders = bystanders
        check_share(cutout_share, "cut-out share")
        check_share(full_figure, "full-figure share")
        self.cutout_share, self.full_figure = cutout_share, full_figure
        if empty and not backgrounds:
            raise ValueError("empty rooms asked for, but there are no background photos to draw them from")
        self.pairs, self.cutouts, self.backgrounds, self.empty = pairs, cutouts, backgrounds, empty
        self.size = self.w, self.h = size
        self.rng = np.random.default_rng(seed)
        self.draw_p = None
        if portrait_share is not None:
            check_share(portrait_share)
            is_portrait = np.array([s.name.startswith("portraits/") for s in pairs])
            n = max(1, int(is_portrait.sum()))
            self.draw_p = np.where(is_portrait, portrait_share / n, (1 - portrait_share) / max(1, len(pairs) - n))
            self.draw_p /= self.draw_p.sum()

    def __call__(self, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One (image, mask) pair of ``size`` (width, height; default the constructor's)."""
        self.w, self.h = size or self.size
        r = self.rng
        if self.empty and r.random() < self.empty:  # no draw when off: other recipes' draws stay as they were
            return self._photometric(self._background(self.w, self.h)), np.zeros((self.h, self.w), np.uint8)
        if self.cutouts and r.random() < self.cutout_share:
            img, mask = self._composite_cutout()
        else:
            n = len(self.pairs)
            s = self.pairs[r.integers(n) if self.draw_p is None else r.choice(n, p=self.draw_p)]
            img, mask = s.image, s.mask
            if self.backgrounds and r.random() < 0.3:
                img = self._replace_background(img, mask)
            img, mask = self._frame(img, mask)
        if self.bystanders and r.random() < self.bystanders:
            img, mask = self._bystander(img, mask)
        return self._photometric(img), mask

    def _background(self, w: int, h: int) -> np.ndarray:
        bg = self.backgrounds[self.rng.integers(len(self.backgrounds))]
        bh, bw = bg.shape[:2]
        s = max(w / bw, h / bh) * self.rng.uniform(1.0, 1.6)
        bg = cv2.resize(bg, (max(w, round(bw * s)), max(h, round(bh * s))))
        y, x = self.rng.integers(bg.shape[0] - h + 1), self.rng.integers(bg.shape[1] - w + 1)
        bg = bg[y:y + h, x:x + w]
        return bg[:, ::-1].copy() if self.rng.random() < 0.5 else bg

    def _replace_background(self, img: np.ndarray, mask: np.ndarray) -> np.ndarray:
        a = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] / 255.0
        bg = self._background(img.shape[1], img.shape[0]).astype(np.float32)
        return (img * a + bg * (1 - a)).astype(np.uint8)

    def _composite_cutout(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.rng
        c = self.cutouts[r.integers(len(self.cutouts))]
        bg = self._background(self.w, self.h).astype(np.float32)
        ch, cw = c.image.shape[:2]
        # a half-body framing (person larger than the frame, head near the top) or a full figure
        target_h = self.h * (r.uniform(1.3, 2.4) if r.random() < 1.0 - self.full_figure else r.uniform(0.6, 1.0))
        s = target_h / ch
        fg = cv2.resize(c.image, (max(1, round(cw * s)), max(1, round(ch * s))))
        al = cv2.resize(c.mask, (fg.shape[1], fg.shape[0]))
        if r.random() < 0.5:
            fg, al = fg[:, ::-1], al[:, ::-1]
        x0 = int(r.integers(-fg.shape[1] // 3, max(1, self.w - fg.shape[1] * 2 // 3)))
        y0 = int(r.uniform(-0.05, 0.25) * self.h)
        out_mask = np.zeros((self.h, self.w), np.uint8)
        paste(bg, out_mask, fg, al, x0, y0)
        return bg.astype(np.uint8), out_mask

    def _bystander(self, img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``img`` with a cut-out pasted in front of it, 15-60% of its width inside the left or right edge."""
        r = self.rng
        c = self.cutouts[r.integers(len(self.cutouts))]
        x, y, w, h = cv2.boundingRect(cv2.compare(c.mask, 127, cv2.CMP_GT))  # the person, not the empty margin
        if w == 0:
            return img, mask
        s = self.h * r.uniform(1.0, 3.0) / h  # near the camera: often head and shoulders
        size = (max(1, round(w * s)), max(1, round(h * s)))
        fg, al = cv2.resize(c.image[y:y + h, x:x + w], size), cv2.resize(c.mask[y:y + h, x:x + w], size)
        if r.random() < 0.5:
            fg, al = fg[:, ::-1], al[:, ::-1]
        inside = max(1, round(size[0] * r.uniform(0.15, 0.6)))
        x0 = self.w - inside if r.random() < 0.5 else inside - size[0]
        y0 = int(r.uniform(-0.15, 0.25) * self.h)
        img, mask = img.copy(), mask.copy()
        paste(img, mask, fg, al, x0, y0)
        return img, mask

    def _frame(self, img: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Random scale/rotation/crop toward webcam framing (often the upper body)."""
        r = self.rng
        h, w = img.shape[:2]
        if r.random() < 0.35 and h > w:  # half-body crop of a standing figure
            h = int(h * r.uniform(0.45, 0.7))
            img, mask = img[:h], mask[:h]
        if r.random() < 0.6:  # fill the frame, cropping the figure as a webcam does
            scale = max(self.w / w, self.h / h) * r.uniform(1.0, 1.5)
        else:
            scale = min(self.w / w, self.h / h) * r.uniform(0.75, 1.0)
        angle = r.uniform(-12, 12)
        cx, cy = w / 2 + r.uniform(-0.15, 0.15) * w, h / 2 + r.uniform(-0.15, 0.15) * h
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        m[0, 2] += self.w / 2 - cx
        m[1, 2] += self.h / 2 - cy
        img = cv2.warpAffine(img, m, (self.w, self.h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpAffine(mask, m, (self.w, self.h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        if r.random() < 0.5:
            img, mask = img[:, ::-1], mask[:, ::-1]
        return np.ascontiguousarray(img), np.ascontiguousarray(mask)

    def _photometric(self, img: np.ndarray) -> np.ndarray:
        """Brightness, contrast, white balance, blur, sensor noise and JPEG artefacts."""
        r = self.rng
        x = img.astype(np.float32)
        x = x * r.uniform(0.6, 1.3) + r.uniform(-25, 25)
        x *= r.uniform(0.85, 1.15, size=3).astype(np.float32)  # white balance
        if r.random() < 0.3:
            g = x.mean(axis=2, keepdims=True)
            x = g + (x - g) * r.uniform(0.3, 1.2)  # saturation
        if r.random() < 0.5:
            x += r.normal(0, r.uniform(2, 10), x.shape).astype(np.float32)
        x = np.clip(x, 0, 255).astype(np.uint8)
        k = r.random()
        if k < 0.15:
            x = cv2.GaussianBlur(x, (0, 0), r.uniform(0.5, 1.8))  # defocus
        elif k < 0.3:
            n = int(r.integers(3, 8))
            kern = np.zeros((n, n), np.float32)
            kern[n // 2] = 1.0 / n
            rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), r.uniform(0, 180), 1.0)
            kern = cv2.warpAffine(kern, rot, (n, n))
            x = cv2.filter2D(x, -1, kern / max(kern.sum(), 1e-6))  # motion blur
        if r.random() < 0.4:
            ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(r.integers(30, 90))])
            x = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        return x

"""Blending the painted frame, the camera frame and the person mask (all OpenCV, uint8 in and out)."""
from __future__ import annotations

import cv2
import numpy as np


class MaskSmoother:
    """Temporal EMA of the mask that follows motion quickly and holds still areas steady.

    Per pixel, the weight of the previous mask is ``smoothing * exp(-motion_gain * |new - old|)``:
    where the person moves the new mask wins at once, where nothing moves the flicker is averaged out.
    """

    def __init__(self, smoothing: float = 0.6, motion_gain: float = 6.0) -> None:
        self.smoothing = smoothing
        self.motion_gain = motion_gain
        self.state: np.ndarray | None = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        if self.smoothing <= 0 or self.state is None:
            self.state = mask.astype(np.float32, copy=True)
            return self.state
        if self.state.shape != mask.shape:  # the net now runs at another size (a new stream resets the smoother)
            self.state = cv2.resize(self.state, mask.shape[::-1], interpolation=cv2.INTER_LINEAR)
        keep = cv2.absdiff(mask, self.state)
        cv2.exp(keep * -self.motion_gain, keep)
        keep *= self.smoothing
        self.state = cv2.add(cv2.multiply(self.state, keep), cv2.multiply(mask, 1.0 - keep))
        return self.state


def soften(mask: np.ndarray, out_width: int, feather: float = 3, threshold: float | None = None,
           gain: float = 2.0) -> np.ndarray:
    """Low-res probabilities -> float32 person weight in 0..1, still at the mask's resolution.

    A soft sigmoid in the logit domain (``gain`` > 1 sharpens), or a hard ``threshold``, then feathered
    edges: a Gaussian of ``feather`` pixels of an output ``out_width`` pixels wide, applied at low resolution.
    """
    m = np.clip(mask, 1e-4, 1 - 1e-4).astype(np.float32)
    if threshold is not None:
        m = (m >= threshold).astype(np.float32)
    elif gain != 1.0:
        logit = cv2.log(m / (1 - m))
        m = 1.0 / (1.0 + cv2.exp(-gain * logit))
    if feather > 0:
        sigma = feather * m.shape[1] / out_width
        m = cv2.GaussianBlur(m, (0, 0), max(sigma, 0.3))
    return m


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` made smaller, to ``size`` (w, h), each pixel the mean of the area it covers (``INTER_AREA``).
    Where the factor is a power of two the same means come from halving bilinearly (at exactly half size a
    bilinear sample is the mean of 2x2 pixels; each halving rounds a uint8 image once), which OpenCV does several
    times faster than ``INTER_AREA``: these shrinks run on every live frame."""
    w, h = size
    ih, iw = image.shape[:2]
    f = iw // w
    if f < 2 or f & (f - 1) or (iw, ih) != (w * f, h * f):
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    while image.shape[1] > w:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    return image


GUIDE_WIDTH = 320  # the guided filter's working width: edges follow the frame, its boxes stay cheap


def guided_upsample(mask: np.ndarray, frame: np.ndarray, radius: int = 4, eps: float = 1e-3,
                    edge: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """A low-resolution person weight (float32 0..1) to a uint8 weight (255 = person) at the frame's size, its
    edges following the frame's own edges.

    A fast guided filter (He et al. 2015): the local linear model ``mask ~ a * luma + b`` is fitted with box
    filters at about ``GUIDE_WIDTH`` pixels wide and applied to the full-resolution luma. ``edge`` (lo, hi)
    remaps the filtered mask so the weight is 0 below lo and 1 above hi: (0.5, 1) puts the whole soft edge
    inside the outline (where the mask crosses 0.5), so no fringe of the person is left on the background.
    """
    h, w = frame.shape[:2]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    s = max(1, round(w / GUIDE_WIDTH))
    sw, sh = max(8, w // s), max(8, h // s)
    guide = shrink(gray, (sw, sh)).astype(np.float32) * (1 / 255)
    p = cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_LINEAR)
    k = (2 * radius + 1, 2 * radius + 1)
    mean_i, mean_p = cv2.blur(guide, k), cv2.blur(p, k)
    var_i = cv2.blur(guide * guide, k) - mean_i * mean_i
    a = (cv2.blur(guide * p, k) - mean_i * mean_p) / (var_i + eps)
    b = mean_p - a * mean_i
    a, b = cv2.blur(a, k), cv2.blur(b, k)
    lo, hi = edge
    if (lo, hi) != (0.0, 1.0):  # the remap folded into the same multiply-add
        a, b = a / (hi - lo), (b - lo) / (hi - lo)
    b *= 255
    # The weight a * luma + b can reach half a grey level only where 255 * max(a, 0) + b does (luma is 0..255, and
    # the bilinear enlargement mixes neighbours): the full-resolution step runs only in the box around those (cut at
    # a quarter level, so float rounding in the product cannot carry a pixel outside it to a level).
    out = np.zeros((h, w), np.uint8)
    reach = cv2.boundingRect(cv2.compare(cv2.max(a, 0.0) * 255 + b, 0.25, cv2.CMP_GE))
    if reach[2]:
        (rows, cols), a_part = enlarged_part(a, reach, (w, h))
        q = cv2.multiply(a_part, gray[rows, cols], dtype=cv2.CV_32F)
        q += enlarged_part(b, reach, (w, h))[1]
        out[rows, cols] = cv2.convertScaleAbs(cv2.max(q, 0.0, dst=q))  # negatives to 0 first: it takes |q|
    return out


def enlarged_part(image: np.ndarray, rect: tuple[int, int, int, int],
                  size: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
    """The part of ``cv2.resize(image, size)`` (bilinear) that ``rect`` (x, y, w, h in ``image``'s pixels) can
    reach, and where it lies at ``size`` (row and column slices). Where ``size`` is a whole multiple of the image's
    size only that part is enlarged (the same values: a pixel more on each side gives the interpolation the
    neighbours it would have had), otherwise the whole image is; at the image's own size, a view of it. For a weight
    that matters near the person only: enlarging a whole frame of it costs more than the rest of its use."""
    ih, iw = image.shape[:2]
    w, h = size
    x, y, rw, rh = rect
    x0, y0, x1, y1 = max(0, x - 1), max(0, y - 1), min(iw, x + rw + 1), min(ih, y + rh + 1)  # what rect reaches
    f = w // iw
    if f < 1 or (iw * f, ih * f) != (w, h):
        fx, fy = w / iw, h / ih
        rows = slice(max(0, int(y0 * fy)), min(h, int(np.ceil(y1 * fy))))
        cols = slice(max(0, int(x0 * fx)), min(w, int(np.ceil(x1 * fx))))
        return (rows, cols), cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)[rows, cols]
    rows, cols = slice(y0 * f, y1 * f), slice(x0 * f, x1 * f)
    if f == 1:
        return (rows, cols), image[rows, cols]
    cx0, cy0, cx1, cy1 = max(0, x0 - 1), max(0, y0 - 1), min(iw, x1 + 1), min(ih, y1 + 1)
    part = cv2.resize(image[cy0:cy1, cx0:cx1], ((cx1 - cx0) * f, (cy1 - cy0) * f), interpolation=cv2.INTER_LINEAR)
    return (rows, cols), part[(y0 - cy0) * f:(y1 - cy0) * f, (x0 - cx0) * f:(x1 - cx0) * f]


def solid(mask: np.ndarray) -> np.ndarray:
    """``mask`` (uint8 0/255) with its holes filled: each outer outline drawn solid."""
    outlines, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return cv2.drawContours(np.zeros_like(mask), outlines, -1, 255, cv2.FILLED)


def worst_channel(image: np.ndarray) -> np.ndarray:
    """Each pixel's largest channel of a uint8 HxWx3 image (e.g. a difference), as HxW: a 1x3 dilation of the rows
    seen as one channel, read at each pixel's middle channel (cheaper than splitting the channels)."""
    h, w = image.shape[:2]
    rows = cv2.dilate(np.ascontiguousarray(image).reshape(h, w * 3), np.ones((1, 3), np.uint8))
    return np.ascontiguousarray(rows[:, 1::3])


def scaled(person: np.ndarray, strength: float, invert: bool = False) -> np.ndarray:
    """The uint8 blend weight of the top layer: ``person * strength`` or ``(255 - person) * strength``."""
    if invert:
        return cv2.convertScaleAbs(person, alpha=-strength, beta=255 * strength)
    return person if strength >= 1.0 else cv2.convertScaleAbs(person, alpha=strength)


MIXED_SHARE = 0.25  # where at most this share of the box's pixels mix the layers, only those are computed


def blend(top: np.ndarray, base: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """``top * weight + base * (1 - weight)`` for uint8 BGR images; ``weight`` a uint8 HxW map (255 = all
    ``top``) or a scalar 0..1. All uint8 OpenCV arithmetic (a float blend costs 2-3x as much)."""
    if np.isscalar(weight):
        w = float(weight)
        return top if w >= 1 else base.copy() if w <= 0 else cv2.addWeighted(top, w, base, 1 - w, 0)
    # Where one layer shows alone it is copied, and the arithmetic runs in the box where the other shows at all
    # (the person's box, whichever layer the person is).
    top_box, base_box = cv2.boundingRect(weight), cv2.boundingRect(cv2.bitwise_not(weight))
    on_top = top_box[2] * top_box[3] > base_box[2] * base_box[3]  # the top layer covers more: it is copied
    out, (x, y, bw, bh) = (top.copy(), base_box) if on_top else (base.copy(), top_box)
    if not bw:
        return out
    box = slice(y, y + bh), slice(x, x + bw)
    w, dst = weight[box], out[box]
    mixed = cv2.inRange(w, 1, 254)
    if cv2.countNonZero(mixed) > MIXED_SHARE * mixed.size:
        dst[...] = _mix(top[box], base[box], w)
        return out
    # A sharp-edged weight (the person's, at full strength) mixes the layers in a thin band along the edge: in the
    # box the other layer is copied where it shows alone, and the arithmetic runs on the band's pixels only
    # (a threshold, not a compare with a number: OpenCV takes a number for a 4x1 array, so a 1x1 or 4x1 box broke)
    other, shows = (base, cv2.threshold(w, 0, 255, cv2.THRESH_BINARY_INV)) if on_top else \
        (top, cv2.threshold(w, 254, 255, cv2.THRESH_BINARY))
    cv2.copyTo(other[box], shows[1], dst)
    at = cv2.findNonZero(mixed)
    if at is not None:  # gathered by flat index (np.take)
        cols, rows = at.reshape(-1, 2).T
        at = (rows + y) * weight.shape[1] + cols + x
        layers = [np.take(image.reshape(-1, 3), at, axis=0)[:, None] for image in (top, base)]
        out.reshape(-1, 3)[at] = _mix(*layers, np.take(weight.reshape(-1), at)[:, None])[:, 0]
    return out


def _mix(top: np.ndarray, base: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The blend's arithmetic (uint8, rounded): ``top`` and ``base`` (..x3) weighted by ``weight`` (... , 255 = top)."""
    w3 = cv2.merge((weight,) * 3)
    return cv2.add(cv2.multiply(top, w3, scale=1 / 255), cv2.multiply(base, cv2.bitwise_not(w3), scale=1 / 255))


def blur_background(frame: np.ndarray, ksize: int = 21) -> np.ndarray:
    """Strong background blur: downscale 4x, Gaussian blur, upscale."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_LINEAR)
    k = ksize | 1
    small = cv2.GaussianBlur(small, (k, k), 0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def fit_background(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale and centre-crop a replacement background to cover ``size`` (w, h)."""
    w, h = size
    ih, iw = image.shape[:2]
    s = max(w / iw, h / ih)
    scaled = cv2.resize(image, (max(w, round(iw * s)), max(h, round(ih * s))), interpolation=cv2.INTER_AREA)
    y, x = (scaled.shape[0] - h) // 2, (scaled.shape[1] - w) // 2
    return np.ascontiguousarray(scaled[y:y + h, x:x + w])


"""The style measures of the style-network issue, on uint8 BGR images (no torch here, so they run anywhere):

- style score: cosine similarity of the style predictor's vectors (``Teacher.embed``) of a painted frame and of
  the painting;
- palette distance: mean over OpenCV's 8-bit Lab channels of the 1-D Wasserstein distance between two images'
  value distributions (101 quantiles), both at 256x256;
- detail: mean |Laplacian| of the luma (brush texture and edges per pixel);
- legibility: correlation of a painting's gradient magnitude with the frame's inside the person (how much of a
  face, hands or a shirt's print the painting keeps; the other measures are over the whole frame);
- lattice: how far the strongest component on a network's pixel grid (1/4 cycle per pixel and its multiples,
  for a net that downsamples 4x) stands above the spectrum around it, on a painted flat wall.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PALETTE_SIZE = (256, 256)
QUANTILES = np.linspace(0, 1, 101)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def palette_distance(img: np.ndarray, painting: np.ndarray) -> float:
    """Lab value distributions compared channel by channel (0: the same palette in the same amounts)."""
    def quantiles(x: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(cv2.resize(x, PALETTE_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB)
        return np.quantile(lab.reshape(-1, 3).astype(np.float64), QUANTILES, axis=0)

    return float(np.abs(quantiles(img) - quantiles(painting)).mean())


def legibility(painted: np.ndarray, frame: np.ndarray, where: np.ndarray) -> float:
    """Correlation of the luma gradient magnitude of ``painted`` with that of ``frame`` over ``where`` (bool): 1 when
    the painting keeps every edge of the frame there in proportion, about 0 when its strokes ignore them."""
    def edges(img: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[where]

    a, b = edges(painted), edges(frame)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def detail(img: np.ndarray) -> float:
    """Mean absolute Laplacian of the luma: fine structure (strokes, edges) per pixel, 0 for a flat image."""
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)).mean())


def flat_wall(w: int = 640, h: int = 360, seed: int = 0) -> np.ndarray:
    """A painted wall's subject: a plain light wall, a gentle shading from top to bottom, sensor noise."""
    rng = np.random.default_rng(seed)
    shade = 0.85 + 0.15 * np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = np.array([150, 170, 190], np.float32) * shade + rng.normal(0, 2, (h, w, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def grid_components(img: np.ndarray, period: int = 4, around: int = 6) -> list[list[float | None]]:
    """Per component of the ``period`` px grid (ky, kx in 0..period-1; None at (0, 0)): its peak in ``img``'s
    luma spectrum (a Hann-windowed FFT) over the median of the spectrum within ``around`` bins of it."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    h, w = g.shape
    g = (g - g.mean()) * np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    spec = np.abs(np.fft.fft2(g))
    out: list[list[float | None]] = []
    for ky in range(period):
        out.append([])
        for kx in range(period):
            if ky == kx == 0:
                out[-1].append(None)
                continue
            fy, fx = round(ky * h / period), round(kx * w / period)
            ys = np.arange(fy - around, fy + around + 1) % h
            xs = np.arange(fx - around, fx + around + 1) % w
            patch = spec[np.ix_(ys, xs)].copy()
            peak = patch[around - 1:around + 2, around - 1:around + 2].max()  # the window spreads a peak 1 bin
            patch[around - 1:around + 2, around - 1:around + 2] = np.nan
            out[-1].append(float(peak / (np.nanmedian(patch) + 1e-6)))
    return out


def grid_amplitude(img: np.ndarray, tile: int | None = None, period: int = 4) -> float:
    """The strongest component on the ``period`` px grid as an amplitude in grey levels: of the whole image's
    ``period`` x ``period`` pixel phases (a pattern in step across the image, what ``lattice`` sees), or with
    ``tile``, of each ``tile`` px square's, averaged (a pattern whose phase wanders: also texture that happens to
    have energy there)."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    if tile is not None and (tile % period or tile > min(g.shape)):
        raise ValueError(f"tile must be a multiple of {period} and fit in the image, got {tile}")
    # a period-wide box average holds nothing of the grid: taking it away keeps the grid and drops shading, which
    # would otherwise leak into the phase means (a ramp reads about 1.4 x its slope)
    g -= cv2.blur(g, (period, period), borderType=cv2.BORDER_REFLECT)
    if tile is None:
        cells = [g[:g.shape[0] // period * period, :g.shape[1] // period * period]]
    else:
        cells = [g[y:y + tile, x:x + tile] for y in range(0, g.shape[0] - tile + 1, tile)
                 for x in range(0, g.shape[1] - tile + 1, tile)]

    k = np.arange(period)
    self_conjugate = ((2 * k[:, None]) % period == 0) & ((2 * k[None, :]) % period == 0)  # e.g. rows alternating
    gain = np.where(self_conjugate, 1.0, 2.0) / period**2  # a real cosine is alone in a self-conjugate bin, else
    # split between two bins

    def peak(cell: np.ndarray) -> float:
        phases = np.array([[cell[i::period, j::period].mean() for j in range(period)] for i in range(period)])
        return float((np.abs(np.fft.fft2(phases - phases.mean())) * gain).max())

    return float(np.mean([peak(c) for c in cells]))


def paint_wall(path: Path, wall: np.ndarray, threads: int = 2) -> np.ndarray:
    """``wall`` (uint8 BGR) painted whole by the style network in the ONNX file ``path``, as uint8 BGR."""
    from realtime.inference import open_session

    session = open_session(path, "style-transfer", "cpu", threads)
    x = cv2.cvtColor(wall, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32) / 255
    out = (session.run(x)[0].transpose(1, 2, 0) * 255).clip(0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_RGB2BGR)


def lattice(img: np.ndarray, period: int = 4, around: int = 6) -> float:
    """The strongest grid component of ``img`` (``grid_components``): about 1-3 for noise or real strokes, far
    more for a repeated pattern on the ``period`` px grid (a net that downsamples 4x and upsamples by repeating
    pixels draws one)."""
    return max(v for row in grid_components(img, period, around) for v in row if v is not None)

"""A colour grade after a style network: one monotone curve per opponent colour axis, fitted after training so
that the student's colours are spread as its teacher's are.

Distilled students paint their midtones lighter than the teacher does (the tails agree), and the per-image
palette term did not move it (models/README.md). A global curve fitted on training frames, the student's painting
quantile by quantile against the teacher's, takes that bias out and leaves the strokes alone.

The axes are luma (R+G+B)/3, red-green (R-G)/2 and yellow-blue (R+G-2B)/4, close to Lab's L, a and b, so a
lightness curve does not tint and a tint curve does not lighten. Each curve is a table of evenly spaced entries
over the range it was fitted on, read with linear interpolation; outside that range it continues with the
identity's slope. Only elementwise ops and two table reads (ONNX Gather), so it costs a few milliseconds a frame
and int8 quantisation (convolutions only) leaves it in float.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

OPPONENT = ((1 / 3, 1 / 3, 1 / 3), (1 / 2, -1 / 2, 0.0), (1 / 4, 1 / 4, -1 / 2))
KNOTS = 33  # quantiles matched per axis
ENTRIES = 256  # table entries per axis


class ToneCurve(nn.Module):
    """RGB 0..1 in, RGB 0..1 out: per opponent axis, ``table[c]`` spans ``lo[c]`` to ``lo[c] + step[c] * (n-1)``."""

    def __init__(self, lo: torch.Tensor, step: torch.Tensor, table: torch.Tensor) -> None:
        super().__init__()
        axes = torch.tensor(OPPONENT, dtype=torch.float32)
        n = table.shape[1]
        self.register_buffer("axes", axes)
        self.register_buffer("inverse", torch.linalg.inv(axes))
        self.register_buffer("lo", lo.float().view(1, 3, 1, 1))
        self.register_buffer("step", step.float().view(1, 3, 1, 1))
        self.register_buffer("table", table.float().flatten())
        self.register_buffer("offset", (torch.arange(3) * n).view(1, 3, 1, 1))
        self.entries = n

    @classmethod
    def identity(cls, entries: int = ENTRIES) -> ToneCurve:
        xs = torch.linspace(-1.0, 1.0, entries)
        return cls(torch.full((3,), -1.0), torch.full((3,), 2.0 / (entries - 1)), xs.repeat(3, 1))

    @classmethod
    def from_weights(cls, weights: dict[str, torch.Tensor], prefix: str = "tone.") -> ToneCurve | None:
        """The curve among a graded network's weights (an exported file's initializers), or None."""
        if prefix + "table" not in weights:
            return None
        table = weights[prefix + "table"].reshape(3, -1)
        return cls(weights[prefix + "lo"].reshape(3), weights[prefix + "step"].reshape(3), table)

    @classmethod
    def fit(cls, ours: np.ndarray, theirs: np.ndarray, knots: int = KNOTS, entries: int = ENTRIES) -> ToneCurve:
        """The curves that give ``ours`` (P x 3 RGB samples in 0..1) ``theirs``'s distribution on each axis:
        ``knots`` quantiles (0.2% to 99.8%) of one mapped onto the other's, resampled to an even table."""
        axes = np.array(OPPONENT)
        a, b = np.asarray(ours, np.float64) @ axes.T, np.asarray(theirs, np.float64) @ axes.T
        levels = np.linspace(0.002, 0.998, knots)
        lo, step, table = [], [], []
        for c in range(3):
            xs, ys = np.quantile(a[:, c], levels), np.quantile(b[:, c], levels)
            xs = xs + np.arange(knots) * 1e-7  # strictly increasing where a flat stretch repeats a value
            grid = np.linspace(xs[0], xs[-1], entries)
            lo.append(xs[0])
            step.append(grid[1] - grid[0])
            table.append(np.interp(grid, xs, ys))
        return cls(torch.tensor(lo), torch.tensor(step), torch.tensor(np.array(table)))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        o = torch.einsum("pc,nchw->nphw", self.axes, rgb)
        hi = self.lo + self.step * (self.entries - 1)
        inside = torch.minimum(torch.maximum(o, self.lo), hi)
        pos = (inside - self.lo) / self.step
        first = torch.clamp(pos.floor(), max=self.entries - 2)
        idx = first.long() + self.offset
        left, right = self.table[idx], self.table[idx + 1]
        graded = left + (pos - first) * (right - left) + (o - inside)
        return torch.einsum("cp,nphw->nchw", self.inverse, graded).clamp(0.0, 1.0)

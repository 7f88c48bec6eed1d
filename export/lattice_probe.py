"""Where a style network's grid pattern is born: paint the flat wall of the lattice guard and, per layer, how far
the channels' summed energy stands out at that layer's Nyquist frequency (in the output, 1/2^(k+1) cycle per pixel
at a layer 2^k times smaller than the frame: 1/4 at half resolution) against the median of its spectrum.

    python -m export.lattice_probe runs/style/the_scream-full/last.pt            # a training checkpoint
    python -m export.lattice_probe models/weights/the_scream.onnx                 # a shipped network, no layers
    python -m export.lattice_probe runs/style/the_scream-full/last.pt --teacher ../shared/data/styles/the_scream.jpg

Prints the output's grid components (the lattice measure per (ky, kx) on the 4 px grid) and their amplitude in
grey levels (in step across the wall, and per 32 px square; ``--teacher``: the teacher's painting of the same wall
too), then one line per layer.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from export.common import to_image, to_tensor
from export.style_metrics import flat_wall, grid_amplitude, grid_components, lattice, paint_wall
from export.train_style import load_weights
from models.transformer_net import ARCHS, TransformerNet


def nyquist_peak(act: np.ndarray) -> float:
    """A C x H x W activation's strongest Nyquist component (rows alternating, columns alternating, both) over the
    median of its spectrum, the channels' Hann-windowed power spectra summed (a channel counts by its energy, so
    a near-silent one cannot stand out)."""
    _, h, w = act.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    power = sum(np.abs(np.fft.fft2((ch - ch.mean()) * win)) ** 2 for ch in act)
    ys, xs = slice(h // 2 - 1, h // 2 + 2), slice(w // 2 - 1, w // 2 + 2)  # the window spreads a peak 1 bin
    peak = max(power[ys, xs].max(), power[0:2, xs].max(), power[ys, 0:2].max())
    return float(np.sqrt(peak / (np.median(power) + 1e-18)))  # in amplitude, like the lattice measure


LayerPeak = tuple[str, tuple[int, int], float]  # name, (h, w), Nyquist peak


def probe(model: TransformerNet, wall: np.ndarray) -> tuple[np.ndarray, list[LayerPeak]]:
    """The painted wall (uint8 BGR) and, per top-level layer: (name, size, Nyquist peak)."""
    acts: dict[int, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, i=i: acts.__setitem__(i, out.detach()))
             for i, m in enumerate(model.net)]
    with torch.no_grad():
        painted = to_image(model(to_tensor(wall[None])))
    for h in hooks:
        h.remove()
    rows = []
    for i, a in sorted(acts.items()):
        rows.append((type(model.net[i]).__name__, tuple(a.shape[2:]), nyquist_peak(a[0].float().numpy())))
    return painted, rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m export.lattice_probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path,
                    help="a train_style checkpoint (runs/style/NAME-ARCH/last.pt) or an .onnx network (picture only)")
    ap.add_argument("--arch", default="full", choices=sorted(ARCHS))
    ap.add_argument("--teacher", type=Path, default=None, help="the painting: measure the teacher's wall as well")
    args = ap.parse_args(argv)
    for path in (args.checkpoint, args.teacher):
        if path is not None and not path.is_file():
            ap.error(f"not found: {path}")
    torch.set_num_threads(1)
    wall = flat_wall()
    rows: list[LayerPeak] = []
    if args.checkpoint.suffix == ".onnx":  # a shipped network: its picture only
        painted = paint_wall(args.checkpoint, wall)
    else:
        model = TransformerNet(args.arch)
        load_weights(args.checkpoint, model)  # one line, no traceback, for a checkpoint of another network
        painted, rows = probe(model.eval(), wall)
    print("output grid components (ky down, kx across; 1 = 1/4 cycle per pixel):")
    for row in grid_components(painted):
        print("  " + "  ".join("   -" if v is None else f"{v:4.1f}" for v in row))
    pictures = {"network": painted}
    if args.teacher:
        from export.teacher import Teacher

        pictures["teacher"] = Teacher(args.teacher, threads=1).paint_frame(wall)
    for who, img in pictures.items():
        print(f"{who}: lattice {lattice(img):.1f}, strongest grid component {grid_amplitude(img):.2f} grey levels "
              f"in step across the wall, {grid_amplitude(img, 32):.2f} per 32 px square")
    if not rows:
        return
    print("layer                size       Nyquist peak / spectrum median (channels' power summed)")
    for i, (name, size, peak) in enumerate(rows):
        print(f"{i:2d} {name:16s} {size[0]:4d}x{size[1]:<5d}  {peak:8.1f}")


if __name__ == "__main__":
    main()

"""Grade a style network's colours to its teacher's (models/tone_curve.py): the network paints whole training
frames (never the held-out rooms or the webcam clips), the teacher paints the same frames, and one curve per
opponent colour axis maps the network's colour distribution onto the teacher's. ``export.train_style`` does this
after training (``--tone``, the full nets' default); this command grades a file trained before it did:

    python -m export.tone models/weights/udnie-full.onnx runs/out/udnie-full.onnx
    python -m export.quantize runs/out/udnie-full.onnx runs/out/udnie-full.int8.onnx   # its int8 twin, after

The painting is the one the file names (its ``style`` metadata) under ``--data``/styles, or ``--style-image``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from export.common import DATA_ROOT, to_image, to_tensor
from models.tone_curve import ToneCurve
from models.transformer_net import ARCHS, TransformerNet
from realtime.models import network_name
from realtime.stylize import EDGE_PAD, with_margin

TONE_FRAMES = 400  # whole frames painted by both (fits on 60 differed by 0.4 in the palette distance)
STRIDE = 7  # every 7th pixel of each (a prime: off the networks' 4 px grid)
TONE_SEED = 1000  # the frames' draw, apart from the training pairs' seeds


def samples(images: list[np.ndarray] | np.ndarray, stride: int = STRIDE) -> np.ndarray:
    """Every ``stride``-th pixel of uint8 BGR images as one P x 3 array of RGB values in 0..1."""
    return np.concatenate([img[..., ::-1].reshape(-1, 3)[::stride] for img in images]).astype(np.float32) / 255


def fit_tone(model: TransformerNet, content: np.ndarray, target: np.ndarray) -> ToneCurve:
    """The curve that spreads ``model``'s colours on the whole frames ``content`` as the teacher's paintings
    ``target`` spread theirs; ``model`` paints without a curve (a fitted one is set aside while it does), each frame
    with the runtime's margin (realtime.stylize.EDGE_PAD), which lightens udnie-full's midtones."""
    device = next(model.parameters()).device

    def paint(img: np.ndarray) -> np.ndarray:  # as the runtime paints: its reflected margin moves the colours
        out = model(to_tensor(with_margin(img)[None]).to(device))
        return to_image(out[..., EDGE_PAD:-EDGE_PAD, EDGE_PAD:-EDGE_PAD].cpu())

    kept, model.tone = model.tone, None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ours = [paint(img) for img in content]
    finally:
        model.tone = kept
        model.train(was_training)
    return ToneCurve.fit(samples(ours), samples(target))


def tone_metadata(frames: int, size: tuple[int, int]) -> str:
    """The file's ``tone`` metadata entry (a graded file has one)."""
    return json.dumps({"fitted_to": "the teacher", "axes": "opponent (luma, red-green, yellow-blue)",
                       "frames": frames, "frame": "x".join(map(str, size))})


def main(argv: list[str] | None = None) -> None:
    import onnx

    from export.style_data import build_pairs, content_paths
    from export.teacher import Teacher
    from export.train_style import ARCH_DEFAULTS, export_onnx, load_weights

    ap = argparse.ArgumentParser(prog="python -m export.tone", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="an exported float style network (.onnx)")
    ap.add_argument("dst", type=Path, help="where the graded network goes (not src)")
    ap.add_argument("--data", type=Path, default=DATA_ROOT)
    ap.add_argument("--style-image", type=Path, default=None, help="default: the painting the file names")
    ap.add_argument("--frames", type=int, default=TONE_FRAMES)
    args = ap.parse_args(argv)
    if not args.src.is_file():
        raise SystemExit(f"{args.src}: no such file")
    if args.dst.resolve() == args.src.resolve():
        raise SystemExit(f"{args.dst}: write the graded network beside the original, not over it")
    try:
        meta = {p.key: p.value for p in onnx.load(str(args.src), load_external_data=False).metadata_props}
    except Exception as exc:  # onnx raises several kinds for a file that is not a model
        raise SystemExit(f"{args.src} is not an ONNX file that can be read ({type(exc).__name__})") from None
    if "tone" in meta:
        raise SystemExit(f"{args.src} is graded already; grade the network it was made from")
    if meta.get("architecture") not in ARCHS:
        raise SystemExit(f"{args.src} is not a style network this project trained (architecture "
                         f"{meta.get('architecture')!r})")
    painting = args.style_image or args.data / "styles" / f"{meta.get('style', '')}.jpg"
    if not painting.is_file():
        raise SystemExit(f"{painting}: no such painting (--style-image)")
    sources = content_paths(args.data)
    if not sources:
        raise SystemExit(f"no content images found under {args.data}")

    model = TransformerNet(meta["architecture"])
    load_weights(args.src, model)  # one line and exit 1 for an int8 twin or another network
    trained_at = json.loads(meta.get("training", "{}")).get("frame", ARCH_DEFAULTS[meta["architecture"]]["frame"])
    size = tuple(int(v) for v in trained_at.split("x"))  # the frames it learned to paint
    content, target = build_pairs(Teacher(painting), sources, args.frames, TONE_SEED, size=size)
    model.tone = fit_tone(model, content, target)
    meta |= {"name": network_name(args.dst), "tone": tone_metadata(args.frames, size)}
    worst = export_onnx(model, args.dst, meta, content[:2])
    print(f"wrote {args.dst} (graded on {args.frames} frames of {size[0]}x{size[1]}, parity {worst:.1e})")


if __name__ == "__main__":
    main()

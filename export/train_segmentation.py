"""Train the person U-Net on ../shared/data/segmentation and export it to ONNX, by default beside its checkpoints
in the run folder (runs/segmentation/person.onnx); the shipped model is models/weights/person.onnx.

    python -m export.train_segmentation --epochs 30 --steps 150
    python -m export.train_segmentation --epochs 30 --steps 150 --out models/weights/person.onnx   # to ship it
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from export.common import DATA_ROOT, load_checkpoint, save_checkpoint, setup, to_tensor
from export.export_segmentation import export_best
from export.losses import stability_loss
from export.predictor_weights import load_predictor
from export.seg_data import (
    Augmenter,
    Sample,
    check_share,
    iou_dice,
    letterbox,
    load_backgrounds,
    load_cutouts,
    load_pairs,
    validation_names,
)
from models.unet import UNet
from realtime.segment import DEFAULT_SIZE, check_long_side


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_ROOT)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=150, help="optimiser steps per epoch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, nargs=2, action="append", default=None, metavar=("W", "H"),
                    help="training crop size (default 224 160); given more than once, each batch is one of them, "
                         "drawn at random: a net for more than one input size")
    ap.add_argument("--long-side", type=int, default=DEFAULT_SIZE[0],
                    help="the 16:9 width the runtime feeds the exported net (its metadata): 256 for person.onnx, "
                         "384 for person-full.onnx (trained with --size 336 240 among its sizes)")
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--portrait", type=float, default=0.0,
                    help="share of batches cropped upright (H x W swapped), as phone video and full-length photos")
    ap.add_argument("--portrait-share", type=float, default=None,
                    help="chance a photo comes from the portraits subset (default: its share of the photos, ~0.22)")
    ap.add_argument("--base", type=int, default=8, help="decoder width (and encoder width for --encoder unet)")
    ap.add_argument("--encoder", choices=("unet", "mobilenet"), default="unet",
                    help="mobilenet: MobileNetV2 blocks starting from the style predictor's pretrained weights")
    ap.add_argument("--blocks", type=int, default=10, help="MobileNetV2 blocks in the encoder (7-13)")
    ap.add_argument("--encoder-lr", type=float, default=0.25,
                    help="the pretrained encoder's learning rate as a share of --lr")
    ap.add_argument("--residual", type=int, nargs=2, default=(0, 0), metavar=("AT8", "AT16"),
                    help="extra inverted-residual blocks at stride 8 and 16")
    ap.add_argument("--head", choices=("full", "split"), default="split",
                    help="split: the last conv's feature part at stride 2 (a third faster on CPU); full: as runs 1-6")
    ap.add_argument("--stability", type=float, default=0.0,
                    help="weight of a steadiness term: the mask of a noisy, brighter or 16 px shifted frame should "
                         "be the same mask, shifted")
    ap.add_argument("--empty", type=float, default=0.0,
                    help="share of training frames that are a room with nobody in it (held-out rooms excepted): "
                         "without them the net takes chairs, cushions and clothes for a person")
    ap.add_argument("--cutouts", type=float, default=0.25,
                    help="share of training frames that are a cut-out pasted into a room (the rest are photos)")
    ap.add_argument("--full-figure", type=float, default=0.4,
                    help="share of those cut-outs framed whole, head to feet (the rest half-body)")
    ap.add_argument("--bystanders", type=float, default=0.0,
                    help="share of frames with a person that show a second one partly outside a side edge")
    ap.add_argument("--lovasz", type=float, default=0.0,
                    help="weight of the Lovasz hinge, an IoU surrogate, added to BCE + Dice (for fine-tuning)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--run", type=Path, default=Path("runs/segmentation"), help="checkpoint folder")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this checkpoint's weights, or a person .onnx this script exported (its batch "
                         "norms are folded into the convolutions, so they stay fixed while it is fine-tuned)")
    ap.add_argument("--out", type=Path, default=None,
                    help="ONNX file (default RUN/person.onnx; to ship it, models/weights/person.onnx)")
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; --portrait-share and --empty are checked here, before the photos load, with the
    Augmenter's own rule."""
    ap = parser()
    args = ap.parse_args(argv)
    for flag, share in (("--portrait-share", args.portrait_share), ("--empty", args.empty),
                        ("--cutouts", args.cutouts), ("--full-figure", args.full_figure),
                        ("--bystanders", args.bystanders)):
        if share is not None:
            try:
                check_share(share, flag)
            except ValueError as e:
                ap.error(str(e))
    try:
        check_long_side(args.long_side)
    except ValueError as e:
        ap.error(f"--long-side {e}")
    args.size = [tuple(s) for s in args.size] if args.size else [(224, 160)]
    args.out = args.out or args.run / "person.onnx"
    return args


# --- data ---------------------------------------------------------------------------------------------
def build_data(args: argparse.Namespace) -> tuple[Augmenter, list[Sample]]:
    """The augmenter over the training photos, cut-outs and rooms, and the held-out photos at full size. The
    cut-outs of the plate's test clips (``export.evaluate_plate``) are held out too."""
    from export.evaluate_plate import cast_cutouts

    seg, bgs = args.data / "segmentation", args.data / "backgrounds"
    val_names = validation_names()
    pairs = load_pairs(seg, "portraits") + load_pairs(seg, "fullbody")
    train_set = [s for s in pairs if s.name not in val_names]
    val = [s for s in load_pairs(seg, "portraits", None) + load_pairs(seg, "fullbody", None) if s.name in val_names]
    cast = cast_cutouts(args.data)
    cutouts = [c for c in load_cutouts(seg) if c.name not in cast]
    aug = Augmenter(train_set, cutouts, load_backgrounds(bgs), args.size[0], args.seed,
                    args.portrait_share, args.empty, args.cutouts, args.full_figure, args.bystanders)
    return aug, val


def sample_batch(aug: Augmenter, batch: int, sizes: list[tuple[int, int]], portrait: float,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` augmented (image, mask) pairs as tensors, W x H one of ``sizes`` or, with chance ``portrait``,
    upright."""
    # one size draws nothing: the same random stream, so the same batches, as before sizes could be several
    size = sizes[int(aug.rng.integers(len(sizes)))] if len(sizes) > 1 else sizes[0]
    size = size[::-1] if aug.rng.random() < portrait else size
    pairs = [aug(tuple(size)) for _ in range(batch)]
    x = to_tensor([p[0] for p in pairs]).to(device, memory_format=torch.channels_last)
    y = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None].astype(np.float32) / 255.0).to(device)
    return x, y


# --- losses -------------------------------------------------------------------------------------------
def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    inter = (p * target).sum((1, 2, 3))
    return (1 - (2 * inter + 1) / (p.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)).mean()


def lovasz_hinge(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Lovasz hinge (Berman et al. 2018), a convex surrogate of 1 - IoU, per image and for both classes
    (person and background), so it follows the per-image mIoU the evaluation reports."""
    losses = []
    for lg, tg in zip(logits.flatten(1), target.flatten(1), strict=True):
        for sign, t in ((1.0, tg), (-1.0, 1.0 - tg)):
            errors = 1.0 - sign * lg * (2.0 * t - 1.0)
            errors, order = errors.sort(descending=True)
            t = t[order]
            inter = t.sum() - t.cumsum(0)
            union = t.sum() + (1.0 - t).cumsum(0)
            jaccard = 1.0 - inter / union
            grad = torch.cat((jaccard[:1], jaccard[1:] - jaccard[:-1]))
            losses.append(torch.dot(F.relu(errors), grad))
    return torch.stack(losses).mean()


def boundary_weight(target: torch.Tensor) -> torch.Tensor:
    """1 everywhere, 3 within a few pixels of the person outline (hair, hands, shoulders)."""
    edge = F.max_pool2d(target, 7, 1, 3) - -F.max_pool2d(-target, 7, 1, 3)
    return 1.0 + 2.0 * edge


class SegmentationLoss:
    """BCE (3x near the outline) + Dice, plus the Lovasz hinge and the steadiness term when they are weighted."""

    def __init__(self, lovasz: float = 0.0, stability: float = 0.0, seed: int = 0) -> None:
        self.lovasz, self.stability = lovasz, stability
        self.gen = torch.Generator().manual_seed(seed)  # the steadiness term's perturbations

    def __call__(self, model: UNet, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(logits, y, weight=boundary_weight(y)) + dice_loss(logits, y)
        if self.lovasz:
            loss = loss + self.lovasz * lovasz_hinge(logits, y)
        if self.stability:
            loss = loss + self.stability * stability_loss(model, x, torch.sigmoid(logits), self.gen, margin=32,
                                                          stride=16)
        return loss


# --- model and training -------------------------------------------------------------------------------
def build_model(args: argparse.Namespace, device: torch.device) -> tuple[UNet, bool]:
    """The U-Net the flags describe, from the style predictor's weights (a fresh mobilenet encoder) or --init's,
    and whether its batch norms must stay fixed (weights from an ONNX file, or a checkpoint of a run that started
    from one). ``ValueError`` for a combination of flags it does not take."""
    model = UNet(base=args.base, residual=tuple(args.residual), head=args.head, encoder=args.encoder,
                 blocks=args.blocks)
    if args.encoder == "mobilenet" and not args.init and not args.resume:
        load_predictor(model.encoder)
        print("encoder: MobileNetV2 from the style predictor's pretrained weights")
    frozen = False
    if args.init:  # a checkpoint of the same or a shallower net: added residual blocks start as the identity
        try:
            if args.init.suffix == ".onnx":
                load_onnx(model, args.init)
                frozen = True
            else:
                state = load_checkpoint(args.init)
                model.load_shallower(state["model"])
                frozen = bool(state.get("frozen_norms", False))
        except ValueError as e:
            sys.exit(f"--init {args.init}: {e}")
    # channels-last runs the depthwise convolutions ~1.4x faster on CPU (measured)
    return model.to(device, memory_format=torch.channels_last), frozen


def conv_norm_pairs(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Each convolution followed by a batch norm, in the order the network runs them (its modules' order)."""
    mods = list(model.modules())
    return [(a, b) for a, b in zip(mods, mods[1:], strict=False)
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d)]


def load_onnx(model: UNet, path: Path) -> None:
    """The weights of a person .onnx exported from this network: the named ones by name; the convolutions whose
    batch norm the export folded in (unnamed) in graph order, each norm set to pass its conv through unchanged
    (``freeze_norms`` keeps it so). ``ValueError`` when they do not fit, or the rebuilt net does not paint the
    file's masks."""
    import onnx

    from export.onnx_export import initializers, parity

    proto = onnx.load(str(path))
    weights = initializers(proto)
    state = model.state_dict()
    named = {k: v for k, v in weights.items() if k in state}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    if any(n.input[1] not in weights or weights[n.input[1]].dtype != torch.float32 for n in convs):
        raise ValueError("not a float person network exported by this script (an int8 or fp16 file?)")
    folded = [n for n in convs if n.input[1] not in state]
    pairs = conv_norm_pairs(model)
    if len(folded) != len(pairs):
        raise ValueError(f"{len(folded)} folded convolutions in the file, {len(pairs)} in this network")
    with torch.no_grad():
        for name, value in named.items():
            if state[name].shape != value.shape:
                raise ValueError(f"{name} is {tuple(value.shape)} in the file, {tuple(state[name].shape)} here")
            state[name].copy_(value)
        for node, (conv, norm) in zip(folded, pairs, strict=True):
            w, b = weights[node.input[1]], weights[node.input[2]]
            if w.shape != conv.weight.shape:
                raise ValueError(f"a folded convolution is {tuple(w.shape)}, {tuple(conv.weight.shape)} here")
            conv.weight.copy_(w)
            norm.weight.fill_(1.0)
            norm.bias.copy_(b)
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
    worst = parity(model.eval(), path, [np.random.default_rng(0).random((1, 3, 144, 256), dtype=np.float32)])
    if worst > 1e-3:
        raise ValueError(f"the rebuilt network's masks differ from the file's by up to {worst:.3g}")
    model.train()


def freeze_norms(model: nn.Module) -> None:
    """Batch norms keep their statistics and scale (for a net rebuilt from an ONNX file, whose norms are folded
    away): eval mode and no gradient. Call after each ``model.train()``."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            m.requires_grad_(False)


def param_groups(model: UNet, lr: float, encoder_share: float) -> list[dict]:
    """One optimiser group, or two when the encoder is pretrained: its weights move at ``encoder_share`` of
    ``lr`` (a fresh decoder's large early gradients would otherwise wash out what it learned)."""
    if model.config["encoder"] != "mobilenet":
        return [{"params": list(model.parameters()), "lr": lr}]
    enc = {id(p) for p in model.encoder.parameters()}
    return [{"params": [p for p in model.parameters() if id(p) not in enc], "lr": lr},
            {"params": list(model.encoder.parameters()), "lr": lr * encoder_share}]


def train(model: UNet, aug: Augmenter, val: list[Sample], losses: SegmentationLoss, *, epochs: int, steps: int,
          batch: int, sizes: list[tuple[int, int]], portrait: float, lr: float, encoder_lr: float, seed: int,
          checkpoint_dir: Path, resume: bool = False, frozen_norms: bool = False,
          long_side: int = DEFAULT_SIZE[0]) -> tuple[float, list[dict]]:
    """AdamW on a one-cycle cosine schedule, ``epochs`` x ``steps`` steps, scored on ``val`` after each epoch.
    Writes ``checkpoint_dir``/last.pt (``resume`` continues from it) and best.pt (best mean mIoU); returns that
    best score and the per-epoch history. ``frozen_norms``: the batch norms stay as they are (``freeze_norms``);
    the checkpoints record it, so a resumed run, or a fine-tune from them, keeps them so too."""
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(param_groups(model, lr, encoder_lr), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [g["lr"] for g in opt.param_groups],
                                                total_steps=epochs * steps, pct_start=0.05, anneal_strategy="cos")
    start, best, history = 0, -1.0, []
    ckpt = checkpoint_dir / "last.pt"
    if resume and ckpt.exists():
        state = load_checkpoint(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start, best, history = state["epoch"], state["best"], state["history"]
        frozen_norms = frozen_norms or bool(state.get("frozen_norms", False))
        aug.rng = np.random.default_rng(seed + start)
        print(f"resumed at epoch {start}")
    for epoch in range(start, epochs):
        model.train()
        if frozen_norms:
            freeze_norms(model)
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{epochs}", leave=False)
        for _ in bar:
            x, y = sample_batch(aug, batch, sizes, portrait, device)
            loss = losses(model, x, model.forward_logits(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        metrics = evaluate(model, val, device, long_side)
        score = float(np.mean([m["miou"] for m in metrics.values()]))
        history.append({"epoch": epoch + 1, "loss": round(loss.item(), 4), **metrics})
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} " +
              " ".join(f"{k} mIoU {m['miou']:.4f} dice {m['dice']:.4f}" for k, m in metrics.items()), flush=True)
        if score > best:
            best = score
            save_checkpoint(checkpoint_dir / "best.pt", model=model.state_dict(), config=model.config,
                            metrics=metrics, frozen_norms=frozen_norms)
        save_checkpoint(ckpt, model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                        epoch=epoch + 1, best=best, history=history, frozen_norms=frozen_norms)
    return best, history


@torch.no_grad()
def evaluate(model: UNet, samples: list, device: torch.device,
             long_side: int = DEFAULT_SIZE[0]) -> dict[str, dict[str, float]]:
    """Per-subset mIoU / person IoU / Dice at full mask resolution, each photo letterboxed into a square
    ``long_side`` wide."""
    model.eval()
    scores: dict[str, list] = {}
    for s in samples:
        h, w = s.image.shape[:2]
        x = to_tensor([letterbox(s.image, long_side, long_side)]).to(device)
        prob = model(x)[0, 0].cpu().numpy()
        scale = min(long_side / w, long_side / h)
        nw, nh = round(w * scale), round(h * scale)
        top, left = (long_side - nh) // 2, (long_side - nw) // 2
        prob = cv2.resize(prob[top:top + nh, left:left + nw], (w, h), interpolation=cv2.INTER_LINEAR)
        scores.setdefault(s.name.split("/")[0], []).append(iou_dice(prob > 0.5, s.mask > 127))
    model.train()
    keys = ("miou", "iou", "dice")
    return {k: dict(zip(keys, np.mean(v, axis=0).round(4).tolist(), strict=True)) for k, v in scores.items()}


# --- export -------------------------------------------------------------------------------------------
def export_onnx(args: argparse.Namespace, argv: list[str], history: list[dict], wall: float) -> None:
    """The best checkpoint to ``args.out`` (+ fp16 twin), its metadata saying how it was trained."""
    extra = {"train_command": "python -m export.train_segmentation " + " ".join(argv),
             "train_minutes_this_run": round(wall / 60, 1), "epochs": args.epochs, "steps_per_epoch": args.steps,
             "batch": args.batch, "train_size": [list(s) for s in args.size], "history": history}
    export_best(args.run / "best.pt", args.out, extra=extra, long_side=args.long_side)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup(args.seed, args.threads)
    try:
        aug, val = build_data(args)
    except ValueError as e:
        parser().error(str(e))
    print(f"train {len(aug.pairs)} photos + cut-outs, validation {len(val)} photos, device {device}")
    try:
        model, frozen = build_model(args, device)
    except ValueError as e:
        parser().error(str(e))
    losses = SegmentationLoss(args.lovasz, args.stability, args.seed)
    t0 = time.time()
    best, history = train(model, aug, val, losses, epochs=args.epochs, steps=args.steps, batch=args.batch,
                          sizes=args.size, portrait=args.portrait, lr=args.lr, encoder_lr=args.encoder_lr,
                          seed=args.seed, checkpoint_dir=args.run, resume=args.resume, frozen_norms=frozen,
                          long_side=args.long_side)
    wall = time.time() - t0
    print(f"trained in {wall / 60:.1f} min; best mean mIoU {best:.4f}")
    export_onnx(args, sys.argv[1:] if argv is None else argv, history, wall)


if __name__ == "__main__":
    main()

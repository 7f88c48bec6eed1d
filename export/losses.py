"""Losses for the style networks: distillation (pixel, multi-scale, edges, colour), stability, and the
classic Johnson perceptual loss on VGG-16 features."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def luma(x: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W luma (BT.601 weights) of an N x 3 x H x W RGB batch."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def pooled_l1(out: torch.Tensor, target: torch.Tensor, scales: tuple[int, ...]) -> torch.Tensor:
    """L1 between the two batches' means over ``scales`` px squares (1: the pixels), averaged over the scales."""
    return sum(F.l1_loss(F.avg_pool2d(out, s), F.avg_pool2d(target, s)) if s > 1 else F.l1_loss(out, target)
               for s in scales) / len(scales)


def distill_loss(out: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Match the teacher: L1 at three scales, Sobel edges (brush texture), per-channel mean/std (palette)."""
    pixel = pooled_l1(out, target, (1, 2, 4))
    edges = F.l1_loss(sobel(out), sobel(target))
    colour = F.l1_loss(out.mean((2, 3)), target.mean((2, 3))) + F.l1_loss(out.std((2, 3)), target.std((2, 3)))
    return {"pixel": pixel, "edges": edges, "colour": colour}


# luma and two opponent axes, then the RGB axes: the colour directions the palette is compared along
PALETTE_AXES = ((1.0, 1.0, 1.0), (1.0, -1.0, 0.0), (1.0, 1.0, -2.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def palette_loss(out: torch.Tensor, target: torch.Tensor, samples: int = 4096) -> torch.Tensor:
    """The colour distributions of the two paintings (not just their means and spreads): a sliced Wasserstein
    distance, the L1 between the sorted projections of ``samples`` evenly strided pixels on fixed colour axes. A
    student regressed toward the teacher per pixel averages its uncertain colours into browns and greys; this
    term asks for the teacher's whole palette."""
    axes = torch.tensor(PALETTE_AXES, device=out.device)
    axes = axes / axes.norm(dim=1, keepdim=True)
    count = min(samples, out.shape[2] * out.shape[3], target.shape[2] * target.shape[3])

    def sorted_projections(x: torch.Tensor) -> torch.Tensor:
        idx = torch.linspace(0, x.shape[2] * x.shape[3] - 1, count, device=x.device).long()
        return torch.einsum("pc,bcn->bpn", axes, x.float().flatten(2)[:, :, idx]).sort(dim=2).values

    ours, theirs = sorted_projections(out), sorted_projections(target)
    return F.l1_loss(ours, theirs.expand_as(ours))  # ``target`` may be one picture for the whole batch


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Per-channel horizontal and vertical Sobel responses."""
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device) / 4
    weight = torch.stack([k, k.t()]).unsqueeze(1).repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=x.shape[1])


def lattice_loss(out: torch.Tensor, target: torch.Tensor, period: int = 4, window: int = 8) -> torch.Tensor:
    """A repeated pattern on the net's ``period`` px grid (its 4x down- and upsampling can draw one for free) shows
    as the ``period`` x ``period`` pixel phases differing in their local means; the teacher's phases differ only as
    its picture does. L1 between the two phase-deviation maps (means over ``window`` x ``window`` cells of the
    grid)."""
    def deviation(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2] // period * period, x.shape[3] // period * period
        x = x[:, :, :h, :w]
        phases = torch.stack([F.avg_pool2d(x[:, :, i::period, j::period], window)
                              for i in range(period) for j in range(period)])
        return phases - phases.mean(0, keepdim=True)

    return F.l1_loss(deviation(out), deviation(target))


def grid_loss(out: torch.Tensor, target: torch.Tensor, period: int = 4) -> torch.Tensor:
    """A pattern on the net's ``period`` px grid that the teacher does not paint, seen across the whole crop: the
    grid components (a ``period`` x ``period`` DFT of the pixel phases' means) of the difference between the two
    paintings, after a sliding ``period`` px box average is taken away (it holds nothing of the grid, and without
    it smooth differences leak in). Mismatched strokes are not in step across the crop and average out; a lattice
    is and adds up, so this sees a stripe of one grey level that ``lattice_loss``'s 32 px cells barely do."""
    r = (out - target).float()
    lo, hi = (period - 1) // 2, period // 2
    r = r - F.avg_pool2d(F.pad(r, (lo, hi, lo, hi), mode="reflect"), period, stride=1)
    h, w = r.shape[2] // period * period, r.shape[3] // period * period
    phases = torch.stack([torch.stack([r[:, :, i:h:period, j:w:period].mean((2, 3)) for j in range(period)], -1)
                          for i in range(period)], -2)  # N x C x period x period
    spectrum = torch.fft.fft2(phases - phases.mean((-2, -1), keepdim=True)).abs() / period**2
    return spectrum.sum((-2, -1)).mean()


def seam_loss(holed: torch.Tensor, whole: torch.Tensor, ring: torch.Tensor) -> torch.Tensor:
    """The line a network paints round a filled hole: L1 between its painting of the room with the hole filled
    (``holed``) and of the whole room (``whole``, the same net's, held fixed), over ``ring`` (N x 1 x H x W weights)
    outside the hole. What the teacher paints there counts elsewhere; this asks only that what fills the hole does
    not reach the room round it (export.evaluate_style's seam measure)."""
    return (ring * (holed - whole).abs()).sum() / (ring.sum() * holed.shape[1]).clamp_min(1.0)


def layout_loss(out: torch.Tensor, target: torch.Tensor, scales: tuple[int, ...] = (8, 16)) -> torch.Tensor:
    """Where the colours go: L1 between the two paintings' means over ``scales`` px squares. The texture and stroke
    terms compare statistics of the whole crop, so their pull moves colours toward the teacher's mix anywhere in the
    crop, and it outweighs the per-pixel terms' pull toward the teacher's layout (models/README.md); this term is
    that layout alone, blind to the strokes inside a square."""
    return pooled_l1(out, target, scales)


def detail_loss(out: torch.Tensor, target: torch.Tensor, window: int = 16, sigma: float = 1.5) -> torch.Tensor:
    """How much fine detail, not where: the local strength of the luma's high frequencies (what a Gaussian of
    ``sigma`` px takes away, RMS over ``window`` px squares, half-overlapping) must match the teacher's. Its strokes'
    exact places cannot be predicted from the frame, so the per-pixel terms average them into a smooth wash; this
    asks for as much texture as the teacher paints in each square, wherever in it. Relative L1."""
    def strength(x: torch.Tensor) -> torch.Tensor:
        y = luma(x).float()
        fine = y - soften(y, sigma)
        return (F.avg_pool2d(fine * fine, window, window // 2) + 1e-6).sqrt()

    want = strength(target).detach()
    return (strength(out) - want).abs().mean() / want.mean().clamp_min(1e-4)


class TextureLoss(nn.Module):
    """Brush texture without pretrained weights: Gram matrices of a fixed, randomly initialised conv net
    (random multi-scale filters capture texture statistics well, Ustyuzhaninov et al. 2016) must match the
    teacher's. Unlike pixel L1 it does not punish strokes that are slightly misplaced, so the student stops
    blurring them away. Relative error per scale, averaged."""

    def __init__(self, width: int = 48, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        convs = []
        for cin in (3, width, width):
            conv = nn.Conv2d(cin, width, 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2 / (cin * 9)) ** 0.5)
                conv.bias.zero_()
            convs.append(conv)
        self.convs = nn.ModuleList(convs)
        self.requires_grad_(False)

    def grams(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, x = [], (x - 0.5) * 2
        for i, conv in enumerate(self.convs):
            if i:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            out.append(gram(x))
        return out

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return gram_distance(self.grams(out), self.grams(target))


def gram_distance(out: list[torch.Tensor], target: list[torch.Tensor]) -> torch.Tensor:
    """Relative L1 between two lists of Gram matrices, per layer, averaged."""
    losses = [(go - gt).abs().mean() / (gt.abs().mean() + 1e-8) for go, gt in zip(out, target, strict=True)]
    return sum(losses) / len(losses)


class FeatureTexture(nn.Module):
    """Brush texture on trained features: Gram matrices of the teacher's own style predictor (a MobileNetV2
    trained to tell painting styles apart; ``models/mobilenet.py``, weights from ``export.predictor_weights``)
    at /2, /4 and /8 must match the teacher's. The random filters of ``TextureLoss`` see colour and edge
    statistics; these see strokes. Relative error per layer, averaged."""

    TAPS = ("stem", "block2.expand", "block4.expand")
    DEPTH = 5  # MobileNetV2 blocks the deepest tap (block 4) needs

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)

    def grams(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.net.features(x, self.TAPS)
        return [gram(feats[t]) for t in self.TAPS]

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            want = self.grams(target)
        return gram_distance(self.grams(out), want)


def phase_crop(out: torch.Tensor, target: torch.Tensor, gen: torch.Generator, period: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same crop of both paintings, ``period`` - 1 px smaller, its corner moved by a random 0..period-1 px in
    each axis. The texture and stroke terms look through strided convolutions (the predictor's stem at /2, its taps
    at /4 and /8), so their gradient w.r.t. the painting is periodic, locked to the crop's corner: every step asks
    for the same pattern on the 2 and 4 px grid. Seen from a random phase each step, that push averages out (how
    much of the lattice it removes: models/README.md)."""
    dy, dx = torch.randint(0, period, (2,), generator=gen).tolist()
    h, w = out.shape[2] - period + 1, out.shape[3] - period + 1
    return out[:, :, dy:dy + h, dx:dx + w], target[:, :, dy:dy + h, dx:dx + w]


def soften(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur (reflect-padded, separable). Before the texture and stroke terms it takes away what their
    strided features alias (at sigma 1: 1/2 cycle per pixel to 0.7%, 1/4 to 29%) and what they would push there."""
    r = max(1, round(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) ** 2 / (2 * sigma**2))
    k = (k / k.sum()).repeat(x.shape[1], 1, 1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(x.shape[1], 1, 1, -1), groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(x.shape[1], 1, -1, 1), groups=x.shape[1])


NET_STRIDE = 4  # the transformer net downsamples 4x: a shift by a multiple of 4 px it can follow exactly


def perturb(x: torch.Tensor, gen: torch.Generator, stride: int = NET_STRIDE,
            blotches: float = 0.0) -> tuple[torch.Tensor, int, int]:
    """A webcam-like nuisance: sensor noise, a brightness change and a shift of 0 or +-``stride`` px. Returns
    (x', dy, dx). ``blotches`` > 0 adds noise of that standard deviation that is smooth over 2-8 px, like a
    video codec's frame-to-frame changes in a still scene (per-pixel noise mostly averages out in the net).

    Shifts are whole multiples of the net's stride: an odd shift cannot be followed exactly through the strided
    convolutions, so punishing it punishes every fine stroke as aliasing, and the net learns to blur."""
    n = x.shape[0]
    noise = torch.randn(x.shape, generator=gen, device="cpu").to(x.device) * 0.02
    if blotches:
        cell = int(2 ** torch.randint(1, 4, (1,), generator=gen).item())
        coarse = torch.randn((n, x.shape[1], -(-x.shape[2] // cell), -(-x.shape[3] // cell)), generator=gen)
        noise = noise + F.interpolate(coarse.to(x.device) * blotches, scale_factor=cell, mode="bilinear",
                                      align_corners=False)[:, :, :x.shape[2], :x.shape[3]]
    gain = 1 + (torch.rand((n, 1, 1, 1), generator=gen).to(x.device) - 0.5) * 0.1
    dy, dx = (int(v) * stride for v in torch.randint(-1, 2, (2,), generator=gen))
    return torch.roll((x * gain + noise).clamp(0, 1), (dy, dx), (2, 3)), dy, dx


def stability_loss(model: nn.Module, x: torch.Tensor, out: torch.Tensor, gen: torch.Generator,
                   margin: int = 16, stride: int = NET_STRIDE, blotches: float = 0.0,
                   origin: tuple[int, int] | None = None) -> torch.Tensor:
    """|f(T(x)) - T(f(x))| away from the borders: the output should move as little as the input does.
    ``stride``: the net's total downsampling (4 for the style net, 16 for the U-Net). ``origin``: where ``out``'s
    style net had its noise field (``ScreenNoise``); the field moves with the shifted image, as it would on a
    painting that moved (None: a net without one).

    The margin leaves out the strip the roll wraps round and the reach of that seam, which no net could
    follow (on a trained net, the error after a 4 px shift halves from a 4 px margin to a 16 px one)."""
    xp, dy, dx = perturb(x, gen, stride, blotches)
    outp = model(xp) if origin is None else model(xp, (origin[0] - dy, origin[1] - dx))
    shifted = torch.roll(out, (dy, dx), (2, 3))
    m = margin
    return F.l1_loss(outp[:, :, m:-m, m:-m], shifted[:, :, m:-m, m:-m])


def still_loss(model: nn.Module, a: torch.Tensor, b: torch.Tensor, motion_gain: float = 0.15,
               origin: tuple[int, int] | None = None) -> torch.Tensor:
    """Consecutive real video frames ``a``, ``b`` (N x 3 x H x W, 0..1): the painting should not change where
    the scene stands still, i.e. where the frames differ only by sensor and codec noise. Each pixel counts with
    weight exp(-motion_gain * |change of the blurred luma, 0..255|), as in the runtime's PaintingSmoother, so
    moving parts (which would need optical flow to follow) count for almost nothing."""
    change = luma(a - b).abs() * 255
    weight = torch.exp(-motion_gain * F.avg_pool2d(change, 5, 1, 2, count_include_pad=False))
    both = torch.cat([a, b])
    out_a, out_b = (model(both) if origin is None else model(both, origin)).chunk(2)
    diff = (out_a - out_b).abs().mean(1, keepdim=True)
    return (weight * diff).sum() / weight.sum().clamp_min(1.0)


# --- classic perceptual loss (needs VGG-16 weights supplied by the user) ------------------------------
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
VGG_TAPS = {3: "relu1_2", 8: "relu2_2", 15: "relu3_3", 22: "relu4_3"}  # indices in vgg16.features


class VGG16Features(nn.Module):
    """torchvision's ``vgg16().features`` layout (same state-dict keys ``features.N.weight``) up to relu4_3."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    @classmethod
    def from_file(cls, path: Path) -> VGG16Features:
        """Load torchvision-format VGG-16 weights (a state dict; only tensors are unpickled)."""
        net = cls()
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if k.startswith("features.")}
        missing, _ = net.load_state_dict(state, strict=False)
        if any(k.startswith("features.") for k in missing):
            raise SystemExit(f"{path} does not hold VGG-16 feature weights (missing {missing[:3]})")
        return net.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean) / self.std
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG_TAPS:
                out[VGG_TAPS[i]] = x
            if i >= max(VGG_TAPS):
                break
        return out


def gram(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    f = x.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class PerceptualLoss(nn.Module):
    """Johnson et al.: content loss on relu2_2, Gram style loss on four layers, total variation."""

    def __init__(self, vgg: VGG16Features, style_image: torch.Tensor, content_weight: float = 1.0,
                 style_weight: float = 1e5, tv_weight: float = 1e-6) -> None:
        super().__init__()
        self.vgg = vgg
        with torch.no_grad():
            self.style_grams = {k: gram(v) for k, v in vgg(style_image).items()}
        self.cw, self.sw, self.tw = content_weight, style_weight, tv_weight

    def forward(self, out: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        fo, fc = self.vgg(out), self.vgg(content)
        c = F.mse_loss(fo["relu2_2"], fc["relu2_2"])
        s = sum(F.mse_loss(gram(fo[k]), g.expand(out.shape[0], -1, -1)) for k, g in self.style_grams.items())
        tv = (out[:, :, 1:] - out[:, :, :-1]).abs().mean() + (out[:, :, :, 1:] - out[:, :, :, :-1]).abs().mean()
        return {"content": self.cw * c, "style": self.sw * s, "tv": self.tw * tv}

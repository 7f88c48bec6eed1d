"""Johnson et al. (2016) feed-forward style transformer network.

Input:  ``image``    float32 N x 3 x H x W, RGB in 0..1 (any H, W; multiples of 4 are exact); the noise
        field is made inside the network (the ONNX file has the one input).
Output: ``stylized`` float32 N x 3 x H x W, RGB in 0..1.

A wide entry conv, two strided convs, residual blocks, two upsample+conv stages and an
exit conv, all with instance norm. Configurations:

- ``johnson``: 32/64/128 channels, 5 residual blocks, 9x9 end convs, reflection padding, nearest
  upsampling (the paper / pytorch/examples network; the first ``udnie-full`` was one);
- ``full``: what paints the background plate at full resolution (on a CPU a few times a second, on a GPU
  every frame): 24/48/96 channels, 5 residual blocks, 5x5 end convs, zero padding, bilinear upsampling.
  Chosen by ONNX Runtime time at 640x360 on 2 CPU threads against a 250 ms budget (models/README.md);
  bilinear upsampling because nearest upsampling twice repeats every feature on the 4x4 grid, which is
  where the shipped nets' diagonal lattice sits (a peak at 1/4 cycle per pixel in both axes); and a fixed
  low-pass (``lowpass``) after the half-resolution decoder stage, because bilinear upsampling alone left
  the lattice half there: the half-resolution stage still carried features at its own Nyquist frequency,
  which the last upsampling places on the 4-pixel grid. The filter has no weights, so full nets from
  before it (2026-12-04) load into this one only to be fine-tuned (models/README.md). And a fixed noise
  field beside the image (``ScreenNoise``, a fourth input channel of the entry conv): plain walls had nothing
  else to paint strokes from but the net's own grid. Full nets from before it (2026-12-04 evening) load
  into this one only to be fine-tuned, the new channel's weights starting at zero. And (``antialias``, since
  2026-12-05 evening) the same low-pass before and after each bilinear upsampling: what the low-pass after the
  half-resolution stage left of the lattice came from the upsampling itself, whose output's statistics repeat
  with the input's pixel, which the next ReLU turns into a pattern on the 4-pixel grid (``UpsampleConv``);
  since 2026-12-05 night (``wide_blur``) the blur after the first upsampling is the 5-tap binomial, which leaves
  a fifteenth of the 3-tap one's overlap (what starry_night-full still drew on the grid);
- ``fast``: 16/32/64 channels, 3 depthwise-separable residual blocks, separable decoder that
  reduces channels (1x1) before it upsamples (bilinear, as the full net, for the same reason; it costs
  ONNX Runtime no more than nearest), 3x3 end convs and zero padding inside the convs, for CPUs.
  Profiling ONNX Runtime on 2 cores showed the separate reflection Pad ops alone took 20% of its time;
  reducing before upsampling took 480x270 from 48 to 38 ms. Since 2026-12-05 it has the full net's low-pass
  after its half-resolution stage too (the same lattice, drawn the same way). Since 2026-12-05 night it also
  has the blurred upsampling (``antialias``) and a noise field (sigma 1.5 px), which it is fed twice: at the entry
  and, with the entry conv's full-resolution features (``late_noise``, ``skip``), at its last upsampling's conv;
  painting at 320x180 with the blurred upsampling alone it lost its fine texture (models/README.md).
  The fast nets shipped before 2026-12-03 upsample nearest, those before 2026-12-05 have no low-pass, and
  shipwreck_of_the_minotaur's (2026-12-02) none of the 2026-12-05 night parts (their ONNX files carry their own
  graph).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.tone_curve import ToneCurve

ARCHS: dict[str, dict] = {
    "johnson": {"channels": (32, 64, 128), "blocks": 5, "end_kernel": 9, "separable": False, "reflect": True},
    "full": {"channels": (24, 48, 96), "blocks": 5, "end_kernel": 5, "separable": False, "reflect": False,
             "upsample": "bilinear", "lowpass": True, "noise": True, "noise_blur": 3.0, "antialias": True,
             "wide_blur": True},
    "fast": {"channels": (16, 32, 64), "blocks": 3, "end_kernel": 3, "separable": True, "reflect": False,
             "upsample": "bilinear", "lowpass": True, "noise": True, "noise_blur": 1.5, "antialias": True,
             "late_noise": True, "skip": True},
}
# ``full`` a third wider: more texture for a painting the full width misses (models/README.md)
ARCHS["wide"] = ARCHS["full"] | {"channels": (32, 64, 128)}


class ConvLayer(nn.Module):
    """Padded conv, then instance norm + ReLU unless ``act=False``."""

    def __init__(
        self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True, reflect: bool = True
    ) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(k // 2) if reflect else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=0 if reflect else k // 2, groups=groups)
        self.norm = nn.InstanceNorm2d(cout, affine=True) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        return F.relu(self.norm(x)) if self.norm is not None else x


def _separable(cin: int, cout: int, reflect: bool, act: bool = True) -> nn.Sequential:
    """Depthwise 3x3 + pointwise 1x1 + instance norm (+ ReLU)."""
    layers = [ConvLayer(cin, cin, 3, groups=cin, act=False, reflect=reflect), nn.Conv2d(cin, cout, 1),
              nn.InstanceNorm2d(cout, affine=True)]
    return nn.Sequential(*layers, nn.ReLU()) if act else nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 convs (depthwise-separable when ``separable``) with an identity skip."""

    def __init__(self, c: int, separable: bool, reflect: bool) -> None:
        super().__init__()
        if separable:
            self.body = nn.Sequential(_separable(c, c, reflect), _separable(c, c, reflect, act=False))
        else:
            self.body = nn.Sequential(
                ConvLayer(c, c, 3, reflect=reflect), ConvLayer(c, c, 3, act=False, reflect=reflect),
                nn.InstanceNorm2d(c, affine=True),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LowPass(nn.Module):
    """A fixed binomial blur per channel with reflected borders, [1 2 1] x [1 2 1] / 16 (``taps`` 3) or
    [1 4 6 4 1] x [1 4 6 4 1] / 256 (5): it removes a feature map's highest frequency (its Nyquist, where its
    response is zero) and keeps the low ones; the wider one falls off sooner. No weights."""

    def __init__(self, channels: int, taps: int = 3) -> None:
        super().__init__()
        row = torch.tensor([math.comb(taps - 1, k) for k in range(taps)], dtype=torch.float32) / 2 ** (taps - 1)
        kernel = (row[:, None] * row[None, :]).expand(channels, 1, taps, taps).clone()
        self.register_buffer("kernel", kernel, persistent=False)
        self.channels, self.pad = channels, taps // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"), self.kernel, groups=self.channels)


class UpsampleConv(nn.Module):
    """2x upsample (nearest or bilinear) then conv (no checkerboard, unlike transposed convs), then the low-pass
    when ``smooth``. The separable variant first reduces channels with a 1x1 conv at the low resolution, which is
    cheaper. ``blur_in`` / ``blur_out``: the low-pass before the upsampling (at the input's rate) and after it (at
    the output's, before the conv). Bilinear upsampling alone leaves the map's statistics periodic on the input's
    grid (its pixels sit 1/4 and 3/4 of an input pixel from a sample); the conv and the ReLU turn that periodic
    spread into a periodic pattern, the lattice (models/README.md). Blurred on both sides the upsampled map is close
    to stationary: for white input the cross-talk between each frequency and its image falls from 17% of the
    power to 0.3% (0.02% with the 5-tap blur after it). ``blur_out_taps``: that blur's width. ``extra_in``: that
    many more channels (``forward``'s ``extra``, at the output's size) join the separable conv's pointwise step, so
    they act before its instance norm and ReLU."""

    def __init__(self, cin: int, cout: int, k: int, separable: bool, reflect: bool, mode: str = "nearest",
                 smooth: bool = False, blur_in: bool = False, blur_out: bool = False, blur_out_taps: int = 3,
                 extra_in: int = 0) -> None:
        super().__init__()
        if extra_in and not separable:
            raise ValueError("extra_in joins the separable conv's pointwise step")
        self.mode, self.extra_in = mode, extra_in
        mid = cout if separable else cin
        self.reduce = nn.Conv2d(cin, cout, 1) if separable else nn.Identity()
        self.blur_in = LowPass(mid) if blur_in else nn.Identity()
        self.blur_out = LowPass(mid, blur_out_taps) if blur_out else nn.Identity()
        self.conv = _separable(cout, cout, reflect) if separable else ConvLayer(cin, cout, k, reflect=reflect)
        if extra_in:
            self.conv[1] = nn.Conv2d(cout + extra_in, cout, 1)
        self.smooth = LowPass(cout) if smooth else nn.Identity()

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        x = self.blur_in(self.reduce(x))
        if self.mode == "nearest":
            up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            up = F.interpolate(x, scale_factor=2.0, mode=self.mode, align_corners=False)
        up = self.blur_out(up)
        if not self.extra_in:
            return self.smooth(self.conv(up))
        x = self.conv[0](up)
        x = torch.cat([x, extra], 1)
        return self.smooth(self.conv[1:](x))


class ScreenNoise(nn.Module):
    """A fixed field of Gaussian noise (zero mean, unit spread) in the frame's pixel coordinates, fed to the net
    beside the image: a seed for brush strokes on plain surfaces that does not change from frame to frame (the
    frame's own sensor noise does, so the stability terms forbid painting strokes from it, and the net drew them on
    its 4 px grid instead: models/README.md). The sum of two tiles whose sides are primes, so the whole field
    repeats nowhere within a frame of up to about 4,000 px (half of it, one tile, repeats a tile's side away).
    ``origin`` moves the field (training draws a fresh one each step, and moves it with the image where a loss shifts
    the image); the runtime's is None, (0, 0). No weights: the tiles are drawn from a fixed seed (a checkpoint does
    not store them; a test pins them, so a torch that drew others would be caught before a resumed run used them).
    ``blur``: the tiles smoothed by a Gaussian of this sigma in px (wrapping round, so they still tile), then
    brought back to unit spread: strokes drawn from pixel-fine noise came out as a fine diagonal cross-hatch on
    plain walls where the teacher paints blotches (models/README.md)."""

    TILES = ((127, 131), (137, 139))

    def __init__(self, seed: int = 0, blur: float = 0.0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        for i, (h, w) in enumerate(self.TILES):
            tile = torch.randn(1, 1, h, w, generator=gen)
            if blur > 0:
                tile = _wrapped_blur(tile, blur)
                tile = (tile - tile.mean()) / tile.std()
            self.register_buffer(f"tile{i}", tile / 2**0.5, persistent=False)

    def forward(self, image: torch.Tensor, origin: tuple[int, int] | None = None) -> torch.Tensor:
        n, _, h, w = image.shape
        field = 0
        for i, (th, tw) in enumerate(self.TILES):
            oy, ox = (0, 0) if origin is None else (origin[0] % th, origin[1] % tw)
            tiled = getattr(self, f"tile{i}").repeat(1, 1, (h + oy) // th + 1, (w + ox) // tw + 1)
            field = field + tiled[:, :, oy:oy + h, ox:ox + w]
        return field.to(image.dtype).expand(n, 1, h, w)


def _wrapped_blur(tile: torch.Tensor, sigma: float) -> torch.Tensor:
    """``tile`` (1x1xHxW) smoothed by a Gaussian of ``sigma`` px, as if it repeated on every side."""
    r = min(int(4 * sigma + 0.5), min(tile.shape[-2:]) // 2)
    x = torch.arange(-r, r + 1, dtype=tile.dtype)
    g = torch.exp(-x**2 / (2 * sigma**2))
    g = g / g.sum()
    out = F.conv2d(F.pad(tile, (r, r, 0, 0), mode="circular"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(out, (0, 0, r, r), mode="circular"), g.view(1, 1, -1, 1))


class TransformerNet(nn.Module):
    """Style transformer; ``arch`` is a key of ARCHS. ``late_noise`` and ``skip`` (the fast net since 2026-12-05 night):
    the noise field and the entry conv's full-resolution features also join the last upsampling's conv. With the
    upsampling blurred, a small net has nothing fine left to paint strokes from but its 4 px grid (the lattice) or,
    given these, the fixed field and the picture's own edges (models/README.md)."""

    def __init__(self, arch: str = "fast") -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose from {sorted(ARCHS)}")
        cfg = ARCHS[arch]
        self.arch = arch
        c1, c2, c3 = cfg["channels"]
        k, sep, refl, up = cfg["end_kernel"], cfg["separable"], cfg["reflect"], cfg.get("upsample", "nearest")
        smooth, aa, wide = cfg.get("lowpass", False), cfg.get("antialias", False), cfg.get("wide_blur", False)
        self.noise = ScreenNoise(blur=cfg.get("noise_blur", 0.0)) if cfg.get("noise") else None
        self.late_noise, self.skip = bool(cfg.get("late_noise")), bool(cfg.get("skip"))
        if self.late_noise and self.noise is None:
            raise ValueError(f"{arch}: late_noise feeds the noise field again, so it needs noise")
        self.tone: ToneCurve | None = None  # fitted after training (export.tone), never trained
        self.net = nn.Sequential(
            ConvLayer(3 + (self.noise is not None), c1, k, reflect=refl),
            ConvLayer(c1, c2, 3, stride=2, reflect=refl),
            ConvLayer(c2, c3, 3, stride=2, reflect=refl),
            *[ResidualBlock(c3, sep, refl) for _ in range(cfg["blocks"])],
            UpsampleConv(c3, c2, 3, sep, refl, up, smooth, blur_in=aa, blur_out=aa, blur_out_taps=5 if wide else 3),
            UpsampleConv(c2, c1, 3, sep, refl, up, blur_in=aa and not smooth, blur_out=aa,  # ``smooth`` blurred it
                         extra_in=self.late_noise + c1 * self.skip),
            ConvLayer(c1, 3, k, act=False, reflect=refl),
        )

    def forward(self, image: torch.Tensor, origin: tuple[int, int] | None = None) -> torch.Tensor:
        x = image if self.noise is None else torch.cat([image, self.noise(image, origin)], 1)
        entry = self.net[0](x)
        x = self.net[1:-2](entry)
        h, w = 2 * x.shape[2], 2 * x.shape[3]  # the last upsampling's size: the input's, rounded up by the strides
        extra = []
        if self.late_noise:
            extra.append(self.noise(x.new_empty(x.shape[0], 1, h, w), origin))
        if self.skip:
            extra.append(F.pad(entry, (0, w - entry.shape[3], 0, h - entry.shape[2])))
        x = self.net[-1](self.net[-2](x, torch.cat(extra, 1) if extra else None))
        # strided convs round sizes up, so crop back to the input size
        out = torch.sigmoid(x)[:, :, : image.shape[2], : image.shape[3]]
        return out if self.tone is None else self.tone(out)

"""Person segmentation U-Net with an ASPP bottleneck.

Input:  ``image`` float32 N x 3 x H x W, RGB in 0..1 (H and W multiples of 16).
Output: ``mask``  float32 N x 1 x H x W, person probability in 0..1.

Encoder at strides 2/4/8/16, an ASPP block (parallel dilated 3x3 convolutions plus
image pooling, as DeepLabv3) at stride 16, and a decoder that upsamples and fuses
the encoder's skip connections. ``separable=True`` uses depthwise-separable
convolutions everywhere but the stem. ``head="split"`` computes the decoder's share of the last
convolution at stride 2 and upsamples one channel instead of sixteen (the "full" head upsampled the
features and convolved them with the image at input resolution: a third of the CPU time).
``encoder="mobilenet"`` replaces the encoder with the first ``blocks`` inverted-residual blocks of a
MobileNetV2 (``models/mobilenet.py``), which can start from pretrained weights (the style predictor's, the only
trained image features on these machines): skips at /2, /4, /8, ASPP on its /16 output.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.layers import InvertedResidual, conv_bn_relu, separable_bn_relu
from models.mobilenet import BLOCKS, MobileNetV2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# MobileNetV2 blocks whose outputs are the skips at /2, /4 and /8 (the last block of each resolution)
MOBILENET_SKIPS = (0, 2, 5)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: dilated branches + global context, fused by 1x1."""

    def __init__(self, cin: int, cout: int, rates: tuple[int, ...], separable: bool) -> None:
        super().__init__()
        block = separable_bn_relu if separable else conv_bn_relu
        self.branches = nn.ModuleList(
            [conv_bn_relu(cin, cout, 1)] + [block(cin, cout, dilation=r) for r in rates if r > 1]
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))
        self.project = conv_bn_relu(cout * (len(self.branches) + 1), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [b(x) for b in self.branches]
        feats.append(self.pool(x).expand(-1, -1, x.shape[2], x.shape[3]))
        return self.project(torch.cat(feats, 1))


class UNet(nn.Module):
    """U-Net person segmenter. ``base`` is the stem width; stages double it."""

    def __init__(self, base: int = 8, rates: tuple[int, ...] = (1, 2, 4, 6), separable: bool = True,
                 residual: tuple[int, int] = (0, 0), head: str = "split", encoder: str = "unet",
                 blocks: int = 10) -> None:
        super().__init__()
        if head not in ("full", "split"):
            raise ValueError(f"head must be 'full' or 'split', got {head!r}")
        if encoder not in ("unet", "mobilenet"):
            raise ValueError(f"encoder must be 'unet' or 'mobilenet', got {encoder!r}")
        block = separable_bn_relu if separable else conv_bn_relu
        c1, c2, c3, c4 = base * 2, base * 4, base * 8, base * 16
        self.config = {"base": base, "rates": list(rates), "separable": separable, "residual": list(residual),
                       "head": head, "encoder": encoder}
        if encoder == "mobilenet":
            if not MOBILENET_SKIPS[-1] < blocks - 1 < len(BLOCKS):
                raise ValueError(f"blocks must reach stride 16 (7..{len(BLOCKS)}), got {blocks}")
            if any(residual):
                raise ValueError("residual blocks belong to the unet encoder; use blocks for the mobilenet one")
            self.config["blocks"] = blocks
            self.encoder = MobileNetV2(blocks)  # input RGB 0..1, as the pretrained predictor takes it
            e1, e2, e3 = (BLOCKS[i][1] for i in MOBILENET_SKIPS)
            self.aspp = ASPP(BLOCKS[blocks - 1][1], c3, rates, separable)
        else:
            e1, e2, e3 = c1, c2, c3
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
            self.stem = conv_bn_relu(3, c1, 3, stride=2)  # /2
            self.enc2 = nn.Sequential(block(c1, c2, stride=2), block(c2, c2))  # /4
            # extra inverted-residual blocks where the feature maps are small: depth (context) at little cost
            self.enc3 = nn.Sequential(block(c2, c3, stride=2), block(c3, c3),
                                      *[InvertedResidual(c3) for _ in range(residual[0])])  # /8
            self.enc4 = nn.Sequential(block(c3, c4, stride=2), block(c4, c4),
                                      *[InvertedResidual(c4, dilation=1 + i % 2) for i in range(residual[1])])  # /16
            self.aspp = ASPP(c4, c3, rates, separable)
        self.dec3 = block(c3 + e3, c2)
        self.dec2 = block(c2 + e2, c1)
        self.dec1 = block(c1 + e1, c1)
        if head == "full":  # 3x3 conv on [upsampled features, image] at input resolution
            self.head = nn.Conv2d(c1 + 3, 1, 3, padding=1)
        else:  # features -> 1 channel at stride 2, upsampled, plus a 3x3 conv of the image at input resolution
            self.head_features = nn.Conv2d(c1, 1, 3, padding=1)
            self.head_image = nn.Conv2d(3, 1, 3, padding=1)

    @classmethod
    def from_config(cls, config: dict) -> UNet:
        """Rebuild from ``self.config`` as stored in a checkpoint (older checkpoints lack ``residual`` and
        ``head``; they had the full head)."""
        return cls(base=config["base"], rates=tuple(config["rates"]), separable=config["separable"],
                   residual=tuple(config.get("residual", (0, 0))), head=config.get("head", "full"),
                   encoder=config.get("encoder", "unet"), blocks=config.get("blocks", 10))

    def load_shallower(self, state: dict[str, torch.Tensor]) -> None:
        """Load weights of this configuration or of one with fewer inverted-residual blocks; the blocks the
        weights lack keep their identity start; a "full" head converts to a "split" one (``split_head``).
        ``ValueError`` if the weights do not fit otherwise."""
        if self.config["head"] == "split" and "head.weight" in state:
            state = split_head(state)
        try:
            missing, unexpected = self.load_state_dict(state, strict=False)
        except RuntimeError as e:  # tensor shapes differ: another width
            raise ValueError(f"weights do not fit this network: {str(e).splitlines()[1].strip()}") from None
        if unexpected or any(".body." not in k for k in missing):
            raise ValueError(f"weights do not fit this network: {unexpected or missing}")

    def forward_logits(self, image: torch.Tensor) -> torch.Tensor:
        """Mask logits at input resolution."""
        s1, s2, s3, s4 = self.encode(image)
        y = self.aspp(s4)
        y = self.dec3(torch.cat([_up(y, s3), s3], 1))
        y = self.dec2(torch.cat([_up(y, s2), s2], 1))
        y = self.dec1(torch.cat([_up(y, s1), s1], 1))
        if self.config["head"] == "full":
            return self.head(torch.cat([_up(y, image), image], 1))
        return _up(self.head_features(y), image) + self.head_image(image)

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Encoder features at /2, /4, /8 and /16."""
        if self.config["encoder"] == "mobilenet":
            taps = tuple(f"block{i}" for i in (*MOBILENET_SKIPS, self.config["blocks"] - 1))
            feats = self.encoder.features(image, taps)
            return tuple(feats[t] for t in taps)
        s1 = self.stem((image - self.mean) / self.std)
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        return s1, s2, s3, self.enc4(s3)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward_logits(image))


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


def split_head(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert a "full" head's weights to the "split" head's, as near as a stride-2 kernel gets: the
    feature part of the 3x3 kernel is shrunk by 2 (each outer tap shares its weight between the centre
    and the next low-resolution pixel), the image part and the bias are kept."""
    state = dict(state)
    weight, bias = state.pop("head.weight"), state.pop("head.bias")
    feat, img = weight[:, :-3], weight[:, -3:]
    shrink = torch.tensor([[0.5, 0.0, 0.0], [0.5, 1.0, 0.5], [0.0, 0.0, 0.5]], dtype=weight.dtype)
    state["head_features.weight"] = shrink @ feat @ shrink.T
    state["head_features.bias"] = torch.zeros_like(bias)
    state["head_image.weight"], state["head_image.bias"] = img.clone(), bias.clone()
    return state

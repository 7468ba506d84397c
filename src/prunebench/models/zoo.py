"""Built-in architectures, sized for 8×8 to 32×32 inputs."""

from __future__ import annotations

import torch
from torch import nn

from .base import register_model


class _Net(nn.Module):
    """``features`` → ``fc``; ``forward`` = ``fc(features(x))``."""

    def __init__(self, body: nn.Module, width: int, num_classes: int) -> None:
        super().__init__()
        self.body = body
        self.fc = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


@register_model("mlp")
def mlp(in_shape, num_classes, hidden: int = 128):
    """Two hidden layers of ``hidden`` units with ReLU."""
    d = in_shape[0] * in_shape[1] * in_shape[2]
    body = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    return _Net(body, hidden, num_classes)


@register_model("cnn_small")
def cnn_small(in_shape, num_classes, width: int = 16):
    """Two 3×3 conv layers (ReLU, 2×2 max-pool) and a 128-unit hidden layer."""
    c, h, w = in_shape
    body = nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (h // 4) * (w // 4), 128),
        nn.ReLU(),
    )
    return _Net(body, 128, num_classes)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.short(x))


@register_model("resnet_small")
def resnet_small(in_shape, num_classes, width: int = 16):
    """A CIFAR-style ResNet with three stages of one basic block (He et al. 2016)."""
    c = in_shape[0]
    body = nn.Sequential(
        nn.Conv2d(c, width, 3, 1, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        _Block(width, width, 1),
        _Block(width, 2 * width, 2),
        _Block(2 * width, 4 * width, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return _Net(body, 4 * width, num_classes)


def build_timm(name: str, in_shape, num_classes: int, **kw):
    """``timm.create_model`` with ``num_classes``, ``in_chans`` and, for models that
    take it (ViTs), ``img_size`` set from the data; extra ``kw`` pass through
    (e.g. ``patch_size``). No pretrained weights are fetched (offline)."""
    import timm

    c, h, _ = in_shape
    args = dict(pretrained=False, num_classes=num_classes, in_chans=c, **kw)
    try:
        return timm.create_model(name, img_size=h, **args)
    except TypeError:  # CNNs take no img_size
        return timm.create_model(name, **args)

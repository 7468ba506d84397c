"""Model registry: small built-in networks plus ``timm:<name>`` pass-through.

Every model maps a float tensor ``(N, C, H, W)`` to logits ``(N, K)`` and
exposes :func:`embed` (penultimate features) and :func:`head` (the last linear
layer), which the feature- and gradient-based scorers use.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from .base import MODELS, register_model  # noqa: F401  (register_model: the package's API)


@functools.cache
def builtin_models() -> dict[str, tuple[str, ...]]:
    """``{name: keyword arguments}`` of the built-in models, read from zoo.py's ``@register_model``
    declarations without importing it (zoo.py imports torch, ~2 s): planning the workflow checks model
    names and ``models:`` arguments from the registry's own source, stated once."""
    tree = ast.parse((Path(__file__).parent / "zoo.py").read_text())
    out = {}
    for fn in tree.body:
        for deco in getattr(fn, "decorator_list", []):
            if (isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "register_model"
                    and deco.args and isinstance(deco.args[0], ast.Constant)):
                args = fn.args.args[2:] + fn.args.kwonlyargs  # after (in_shape, num_classes)
                out[deco.args[0].value] = tuple(a.arg for a in args)
    return dict(sorted(out.items()))


def is_known_model(name: str) -> bool:
    return name in builtin_models() or name in MODELS or name.startswith(("timm-", "timm:"))


def list_models() -> list[str]:
    from . import zoo  # noqa: F401  (registers the built-ins)

    return MODELS.names() + ["timm:<any timm model name>"]


def build_model(name: str, in_shape: tuple[int, int, int], num_classes: int, **kw):
    """Build model ``name`` for inputs of shape ``(C, H, W)`` and ``num_classes``."""
    from . import zoo  # noqa: F401

    if name.startswith("timm:") or name.startswith("timm-"):
        return zoo.build_timm(name[5:], in_shape, num_classes, **kw)
    return MODELS.get(name)(in_shape, num_classes, **kw)


def head(model):
    """The final linear layer (``nn.Linear``) of a registered or timm model."""
    if hasattr(model, "get_classifier"):
        return model.get_classifier()
    return model.fc


def embed(model, x):
    """Penultimate features (the input of :func:`head`)."""
    if hasattr(model, "forward_head") and hasattr(model, "forward_features"):  # timm
        return model.forward_head(model.forward_features(x), pre_logits=True)
    return model.features(x)

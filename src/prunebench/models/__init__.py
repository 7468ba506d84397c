"""Model registry: small built-in networks plus ``timm:<name>`` pass-through.

Every model maps a float tensor ``(N, C, H, W)`` to logits ``(N, K)`` and
exposes :func:`embed` (penultimate features) and :func:`head` (the last linear
layer), which the feature- and gradient-based scorers use.
"""

from __future__ import annotations

from .base import MODELS, register_model  # noqa: F401  (register_model: the package's API)

# The built-in names (registered in zoo.py, which imports torch): known without importing it, so
# that planning the workflow (prunebench.plan.check) stays free of torch's ~2 s import.
BUILTIN = ("cnn_small", "mlp", "resnet_small")
#: the keyword arguments each built-in builder takes (checked against zoo.py's signatures by
#: tests/test_bad_inputs.py), so that `models:` in the config is checked when the workflow is planned
BUILTIN_KWARGS = {"cnn_small": ("width",), "mlp": ("hidden",), "resnet_small": ("width",)}


def is_known_model(name: str) -> bool:
    return name in BUILTIN or name in MODELS or name.startswith(("timm-", "timm:"))


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

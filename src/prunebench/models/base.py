"""The model registry: kept apart from the package's ``__init__`` (which loads zoo.py on demand) so
that zoo.py registers its builders here and nothing imports back."""

from __future__ import annotations

from collections.abc import Callable

from ..registry import Registry

MODELS: Registry[Callable] = Registry("model")


def register_model(name: str) -> Callable[[Callable], Callable]:
    """Register ``fn(in_shape, num_classes, **kw) -> nn.Module`` under ``name``."""
    return MODELS.decorator(name, lambda fn: fn)

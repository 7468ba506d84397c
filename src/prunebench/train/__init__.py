"""Training core: devices, determinism, batches, the one training loop.

Surrogate training and retraining both call :func:`fit`; scorers that need a
model call :func:`predict` from here, so all torch plumbing lives in this
package. The names load lazily: ``prunebench.train.device.seed_numpy`` (what a
numpy-only scorer job needs) does not import torch (~2 s of start-up here).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "resolve_device": "device", "set_determinism": "device", "seed_numpy": "device",
    "Recipe": "loop", "batch_to_tensor": "loop", "evaluate": "loop", "fit": "loop", "predict": "loop",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

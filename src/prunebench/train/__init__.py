"""Training core: devices, determinism, batches, the one training loop.

Surrogate training and retraining both call :func:`fit`; scorers that need a
model call :func:`load_surrogate_model` / :func:`predict` from here, so all
torch plumbing lives in this package.
"""

from .device import resolve_device, set_determinism  # noqa: F401
from .loop import Recipe, batch_to_tensor, evaluate, fit, predict  # noqa: F401

"""Small numeric helpers shared by scorers, influence and training (numpy and ``math`` only)."""

from __future__ import annotations

import math

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (max-shifted, so large logits do not overflow)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def error_l2(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """EL2N error vector norm ‖p − onehot(y)‖₂ per row (Paul et al. 2021, Sec. 2)."""
    p = np.asarray(probs, dtype=np.float64)
    err = p.copy()
    err[np.arange(len(y)), y] -= 1.0
    return np.sqrt((err * err).sum(axis=1))


def lr_at(step: int, total: int, lr: float, schedule: str = "constant") -> float:
    """Learning rate of update ``step`` (0-based) of ``total``: ``cosine``
    (``½·lr·(1 + cos(π·step/total))``), ``step`` (×0.1 at 50 % and again at 75 % of
    ``total``) or ``constant`` (``lr`` as given)."""
    if schedule == "cosine":
        return 0.5 * lr * (1 + math.cos(math.pi * step / total))
    if schedule == "step":
        return lr * (0.1 ** (int(step >= 0.5 * total) + int(step >= 0.75 * total)))
    if schedule == "constant":
        return lr
    raise ValueError(f"unknown schedule {schedule!r}: use cosine, step or constant")

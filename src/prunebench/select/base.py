"""The selection-strategy registry and the counting and ranking every strategy shares.

Kept apart from the package's ``__init__`` (which registers the basic strategies and loads
strategies.py on demand) so that strategy modules import from here and nothing imports back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..registry import Registry

STRATEGIES: Registry[Callable] = Registry("selection strategy")


def register_strategy(name: str):
    return STRATEGIES.decorator(name, lambda fn: fn)


def n_removed(n: int, ratio: float) -> int:
    if not 0 <= ratio < 1:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
    return int(np.floor(ratio * n + 0.5))


def order_kept_first(scores: np.ndarray, keep: str) -> np.ndarray:
    """Indices sorted so the ones to keep first come first (ties: lower index first)."""
    s = np.asarray(scores, dtype=np.float64)
    if keep == "high":
        return np.argsort(-s, kind="stable")
    if keep == "low":
        return np.argsort(s, kind="stable")
    raise ValueError(f"keep must be 'high' or 'low', got {keep!r}")


def class_quotas(y: np.ndarray, n_keep: int) -> np.ndarray:
    """Per-class keep counts ∝ class sizes, by largest remainder (ties: lower class)."""
    classes, counts = np.unique(y, return_counts=True)
    exact = n_keep * counts / counts.sum()
    q = np.floor(exact).astype(np.int64)
    rem = exact - q
    order = np.lexsort((classes, -rem))
    q[order[: n_keep - q.sum()]] += 1
    return dict(zip(classes.tolist(), q.tolist()))


def water_fill(sizes, m: int) -> np.ndarray:
    """Split ``m`` as evenly as the ``sizes`` allow: visit groups from the smallest up (ties: lower
    position), each taking min(size, ⌊m_left / groups_left⌋). Small groups are taken whole and what
    they cannot hold goes to the others (CCS's stratum budgets, MoSo's equal class quotas)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if m > sizes.sum():
        raise ValueError(f"cannot keep {m} samples from groups of {int(sizes.sum())} in all")
    out = np.zeros(len(sizes), np.int64)
    left = int(m)
    for j, b in enumerate(np.argsort(sizes, kind="stable")):
        out[b] = min(int(sizes[b]), left // (len(sizes) - j))
        left -= int(out[b])
    if left:
        raise AssertionError(f"water filling left {left} of {m} unfilled")  # cannot happen
    return out

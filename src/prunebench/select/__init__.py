"""Subset selection from a score vector, by registered strategy.

``ratio`` is the fraction *removed*: ``removed = floor(ratio·n + 0.5)``.
A strategy is ``fn(scores, keep, ratio, y, rng, **params) -> kept indices``
(sorted, int64). Ties are broken by index (stable sort), so selection is
deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .base import STRATEGIES, class_quotas, n_removed, order_kept_first, register_strategy, water_fill


def save_subset(path, kept: np.ndarray, labels: np.ndarray, extra: dict) -> None:
    """A subset ``.npy`` (sorted kept indices) and its meta ``.meta.json``: ``extra``, the per-class counts,
    the classes it leaves empty (named in the log), and the npy's sha256, which readers check."""
    from .. import io

    C = int(labels.max()) + 1
    counts = np.bincount(labels[kept], minlength=C)
    empty = [int(c) for c in np.flatnonzero((counts == 0) & (np.bincount(labels, minlength=C) > 0))]
    if empty:
        print(f"WARNING: the subset leaves class(es) {empty} with no sample")
    digest = io.save_npy(path, kept)
    io.write_sidecar(path, {**extra, "n_kept": int(len(kept)), "class_counts": counts.tolist(),
                            "empty_classes": empty}, digest)


def class_equal_quotas(y: np.ndarray, n_keep: int) -> dict:
    """Per-class keep counts as equal as possible (n_keep / K each); a class smaller than its share
    is kept whole and the rest is shared by the others (:func:`water_fill`)."""
    classes, counts = np.unique(y, return_counts=True)
    return dict(zip(classes.tolist(), water_fill(counts, n_keep).tolist()))


def _per_class_top(scores, keep, y, quotas: dict) -> np.ndarray:
    """Within each class, the first ``quotas[c]`` of the ranking in direction ``keep``."""
    order = order_kept_first(scores, keep)
    kept = [order[y[order] == c][:q] for c, q in quotas.items()]
    return np.sort(np.concatenate(kept)).astype(np.int64)


@register_strategy("keep")
def keep_by_direction(scores, keep, ratio, y=None, rng=None, **_):
    """Keep the top of the score ranking in the scorer's own direction."""
    n = len(scores)
    return np.sort(order_kept_first(scores, keep)[: n - n_removed(n, ratio)]).astype(np.int64)


@register_strategy("keep_high")
def keep_high(scores, keep, ratio, y=None, rng=None, **_):
    """Keep the highest scores whatever the scorer's direction."""
    return keep_by_direction(scores, "high", ratio)


@register_strategy("keep_low")
def keep_low(scores, keep, ratio, y=None, rng=None, **_):
    """Keep the lowest scores whatever the scorer's direction."""
    return keep_by_direction(scores, "low", ratio)


@register_strategy("classbal")
def class_balanced(scores, keep, ratio, y=None, rng=None, **_):
    """Per class, keep the top of the ranking, quotas ∝ class sizes (largest remainder)."""
    if y is None:
        raise ValueError("class-balanced selection needs the training labels")
    n = len(scores)
    return _per_class_top(scores, keep, np.asarray(y), class_quotas(y, n - n_removed(n, ratio)))


@register_strategy("classeq")
def class_equal(scores, keep, ratio, y=None, rng=None, **_):
    """Per class, keep the top of the ranking, equal quotas (n_keep / K each; a class with fewer
    samples is kept whole, the others share what it cannot hold). The MoSo release's selection
    (hrtan/MoSo ``retraining.py``), without its masking quirk: a class's quota is filled from that
    class's own ranking only, whatever the sign of its scores."""
    if y is None:
        raise ValueError("per-class equal-quota selection needs the training labels")
    n = len(scores)
    return _per_class_top(scores, keep, np.asarray(y), class_equal_quotas(y, n - n_removed(n, ratio)))


def get_strategy(name: str) -> Callable:
    from . import strategies  # noqa: F401  (more strategies: ccs, ...)

    return STRATEGIES.get(name)


def select(scores, keep: str, ratio: float, strategy: str = "keep", y=None, seed: int = 0, **params) -> np.ndarray:
    """Kept indices for one ratio; checks the size contract."""
    n = len(scores)
    rng = np.random.default_rng([seed, 11])
    kept = np.asarray(get_strategy(strategy)(np.asarray(scores, np.float64), keep, ratio, y, rng, **params), np.int64)
    want = n - n_removed(n, ratio)
    if len(kept) != want or len(np.unique(kept)) != len(kept):
        raise AssertionError(f"strategy {strategy} returned {len(kept)} indices, expected {want} distinct")
    if len(kept) and (kept.min() < 0 or kept.max() >= n):
        raise AssertionError(f"strategy {strategy} returned indices outside 0..{n - 1}")
    return np.sort(kept)

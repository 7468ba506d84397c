"""The dataset registry: loaders registered by name with what the plan may know of them before they are
prepared (:class:`DatasetFacts`), and the stratified split the loaders share. The loaders (``sources.py``,
``folders.py``) import this module; :mod:`.contract` imports them to fill the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..registry import Registry

DATASETS: Registry[Callable] = Registry("dataset")


@dataclass(frozen=True)
class DatasetFacts:
    """What the plan knows of a dataset before it is prepared (``snakemake -n`` prepares nothing):
    ``class_counts(options)`` — training samples per class the loader will give with those options
    (None when only the prepared data can tell: a partial copy, classes of different sizes); ``n_train``
    and ``shape`` with the default options; ``size_option``: the option that sets the image side."""

    num_classes: int
    n_train: int
    shape: tuple[int, int, int]
    class_counts: Callable[[dict], list[int] | None]
    size_option: str | None = None

    def shape_for(self, options: dict) -> tuple[int, int, int]:
        size = (options or {}).get(self.size_option) if self.size_option else None
        return (self.shape[0], int(size), int(size)) if size else self.shape


FACTS: dict[str, DatasetFacts] = {}
#: loader options that change how the arrays are made, not what they hold
NON_CONTENT_OPTIONS = frozenset({"workers", "cache", "in_memory_limit", "strict", "draft"})


def register_dataset(name: str, facts: DatasetFacts | None = None):
    """Register ``fn(source=None, **kw) -> (x_train, y_train, x_test, y_test, info)``, with its
    :class:`DatasetFacts`."""
    if facts is not None:
        FACTS[name] = facts
    return DATASETS.decorator(name, lambda fn: fn)


def stratified_sizes(counts, test_fraction: float) -> list[int]:
    """Per-class training sizes :func:`stratified_split` leaves of ``counts`` (round(f·n_c) go to test)."""
    return [int(n) - int(round(float(test_fraction) * int(n))) for n in counts]


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: per class, round(test_fraction·n_c) go to test."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test.append(idx[: int(round(test_fraction * len(idx)))])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return train_idx, test_idx

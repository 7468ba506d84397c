"""Registry, the lazily loading scoring context, and scorer discovery."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..registry import Registry


@dataclass(frozen=True)
class ScorerInfo:
    name: str
    fn: Callable[..., np.ndarray]
    keep: str  # "high" | "low"
    paper: str
    strategy: str = "keep"  # default selection strategy
    defaults: dict = field(default_factory=dict)
    kind: str = "score"  # "score" | "solver" (writes subsets itself)
    needs_surrogate: bool = True

    @property
    def summary(self) -> str:
        doc = (self.fn.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


SCORERS: Registry[ScorerInfo] = Registry("scorer")


def register_scorer(name: str, *, keep: str, paper: str, strategy: str = "keep", kind: str = "score",
                    needs_surrogate: bool = True, **defaults: Any):
    """Decorator: register ``fn(ctx, **params) -> scores`` as scorer ``name``.

    ``defaults`` are the scorer's parameters (overridable from config);
    ``needs_surrogate=False`` for scorers that read only x and y (random)."""
    if keep not in ("high", "low"):
        raise ValueError(f"keep must be 'high' or 'low', got {keep!r}")

    def wrap(fn):
        return ScorerInfo(name, fn, keep, paper, strategy, dict(defaults), kind, needs_surrogate)

    return SCORERS.decorator(name, wrap)


def _discover() -> None:
    """Import every module of this package so their decorators run."""
    pkg = Path(__file__).parent
    for m in pkgutil.iter_modules([str(pkg)]):
        if m.name not in ("base",) and not m.name.startswith("_"):
            importlib.import_module(f"{__package__}.{m.name}")


def get_scorer(name: str) -> ScorerInfo:
    _discover()
    return SCORERS.get(name)


def list_scorers() -> list[ScorerInfo]:
    _discover()
    return [SCORERS.get(n) for n in SCORERS.names()]


class ScoreContext:
    """What a scorer may read: x and the *training* labels (possibly noisy),
    the surrogate run(s), a device and a seed. Never the clean labels or the
    flipped mask. Everything loads on first use."""

    def __init__(self, data_dir, labels_path, surrogate_dirs, seed: int = 0, device: str = "auto",
                 threads: int = 1, chunk_size: int = 1024, progress: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.labels_path = Path(labels_path)
        self.surrogate_dirs = [Path(p) for p in surrogate_dirs]
        self.seed = int(seed)
        self.device_name = device
        self.threads = threads
        self.chunk_size = chunk_size
        self.progress = progress

    @cached_property
    def dataset(self):
        from ..data import load_dataset

        return load_dataset(self.data_dir)

    @property
    def x(self) -> np.ndarray:
        return self.dataset.x_train

    @cached_property
    def y(self) -> np.ndarray:
        from .. import io

        y = io.load_npz(self.labels_path)["y"]
        if len(y) != len(self.x):
            raise ValueError(f"{self.labels_path}: {len(y)} labels for {len(self.x)} samples")
        return y

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @cached_property
    def surrogates(self):
        from ..train.surrogate import SurrogateRun

        if not self.surrogate_dirs:
            raise ValueError("this scorer needs a surrogate run, none was given")
        runs = [SurrogateRun(p) for p in self.surrogate_dirs]
        for r in runs:
            if r.meta.get("partition") is None and r.meta["n"] != self.n:
                raise ValueError(f"{r.path}: surrogate trained on {r.meta['n']} samples, data has {self.n}")
        return runs

    @property
    def surrogate(self):
        """The primary surrogate (the one of this seed), trained on the whole training set."""
        run = self.surrogates[0]
        if run.meta.get("partition") is not None:
            raise ValueError(f"{run.path}: a partition surrogate (trained on part of the data); only scorers "
                             "with a 'partitions' parameter (moso) can use partitioned surrogates")
        return run

    @cached_property
    def device(self):
        """The torch device; the first use also seeds torch and fixes its flags and threads
        (a scorer that never touches torch never imports it)."""
        from ..train.device import resolve_device, set_determinism

        set_determinism(self.seed, self.threads)
        return resolve_device(self.device_name)

    def features(self, run=None) -> np.ndarray:
        """Penultimate features of the final surrogate model, eval mode, chunked."""
        from ..models import embed
        from ..train import predict

        run = run or self.surrogate
        model = run.load_model(device=self.device)
        return predict(model, self.x, self.device, run.norm, self.chunk_size, fn=embed)

    def logits(self, run=None, checkpoint: dict | None = None) -> np.ndarray:
        from ..train import predict

        run = run or self.surrogate
        model = run.load_model(checkpoint, device=self.device)
        return predict(model, self.x, self.device, run.norm, self.chunk_size)

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])

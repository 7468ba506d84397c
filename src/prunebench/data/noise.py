"""Seeded label noise. ``flipped`` marks the changed labels; only the
evaluation rules of the noise study read it."""

from __future__ import annotations

import re

import numpy as np

_NOISE = re.compile(r"^(clean|(sym|asym)(\d{1,2}))$")


def parse_noise(name: str) -> tuple[str, float]:
    """``clean`` → ("clean", 0); ``sym20`` → ("sym", 0.2); ``asym40`` → ("asym", 0.4)."""
    m = _NOISE.match(name)
    if not m:
        raise ValueError(f"bad noise setting {name!r}: use clean, symNN or asymNN (NN = percent, < 100)")
    if m.group(1) == "clean":
        return "clean", 0.0
    return m.group(2), int(m.group(3)) / 100.0


def noise_name(kind: str, rate: float) -> str:
    return "clean" if rate == 0 else f"{kind}{int(round(rate * 100)):02d}"


def inject_noise(y: np.ndarray, num_classes: int, kind: str, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flip exactly ``round(rate·n)`` labels, chosen uniformly without replacement.

    * ``sym``: each flipped label becomes a uniformly drawn *different* class
      (every class is a possible target; compare the MoSo release, which
      draws from ``range(max(y))`` and never uses the last class).
    * ``asym``: class pairs, ``c → (c + 1) mod K`` (the usual class-dependent
      noise of Patrini et al. 2017 on a fixed permutation).

    Returns ``(y_noisy, flipped)``.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"noise rate must be in [0, 1), got {rate}")
    if num_classes < 2:
        raise ValueError("label noise needs at least two classes")
    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n_flip = int(np.floor(rate * len(y) + 0.5))
    idx = rng.choice(len(y), size=n_flip, replace=False)
    y_noisy = y.copy()
    if kind == "sym":
        shift = rng.integers(1, num_classes, size=n_flip)
        y_noisy[idx] = (y[idx] + shift) % num_classes
    elif kind == "asym":
        y_noisy[idx] = (y[idx] + 1) % num_classes
    elif n_flip:
        raise ValueError(f"unknown noise kind {kind!r}")
    flipped = np.zeros(len(y), dtype=bool)
    flipped[idx] = True
    return y_noisy, flipped

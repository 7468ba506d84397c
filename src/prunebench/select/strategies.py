"""Further selection strategies, registered on import: ``ccs``.

CCS — coverage-centric coreset selection (Zheng et al., ICLR 2023,
arXiv 2210.15809, Algorithm 1):

1. drop the ⌊β·n⌋ hardest samples (likely mislabelled);
2. split the score range of the rest into k strata of equal width;
3. fill the budget m = n − removed stratum by stratum, smallest stratum
   first, each taking min(|B|, ⌊m_left / strata_left⌋) samples drawn uniformly
   at random (so small strata are kept whole, the rest share evenly).

"Hard" is the side the scorer keeps (high EL2N / forgetting / entropy, low AUM),
unless ``hard`` says otherwise. The paper tunes β per dataset and ratio by grid
search; the release's example for CIFAR-10 at 90 % pruning with AUM uses
β = 0.3. Default here β = 0.1 for every ratio; pass a number or a mapping
``{ratio: β}`` (keys compared at two decimals) to follow a tuned table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .base import class_quotas, n_removed, order_kept_first, register_strategy, water_fill


def resolve_beta(beta, ratio: float) -> float:
    """β for this ratio: a number, or a mapping ratio → β (keys at two decimals)."""
    if isinstance(beta, Mapping):
        table = {round(float(k), 2): float(v) for k, v in beta.items()}
        key = round(float(ratio), 2)
        if key not in table:
            raise KeyError(f"CCS beta table has no entry for ratio {key:.2f} (entries: {sorted(table)})")
        beta = table[key]
    beta = float(beta)
    if not 0 <= beta < 1:
        raise ValueError(f"CCS beta must lie in [0, 1), got {beta}")
    return beta


def stratum_ids(scores: np.ndarray, k: int) -> np.ndarray:
    """Stratum 0..k−1 of each score: k bins of equal width over [min, max] (max in the last)."""
    s = np.asarray(scores, dtype=np.float64)
    if k < 1:
        raise ValueError(f"CCS needs k ≥ 1 strata, got {k}")
    if len(s) == 0:
        return np.zeros(0, np.int64)
    lo, hi = s.min(), s.max()
    if hi == lo:
        return np.zeros(len(s), np.int64)
    return np.minimum(np.floor((s - lo) / ((hi - lo) / k)).astype(np.int64), k - 1)


def stratum_budgets(sizes: np.ndarray, m: int) -> np.ndarray:
    """Algorithm 1's allocation: visit strata from the smallest up (ties: lower id);
    each takes min(size, ⌊m_left / strata_left⌋)."""
    try:
        return water_fill(sizes, m)
    except ValueError:
        raise ValueError(f"CCS budget {m} exceeds the {np.asarray(sizes).sum()} samples left after the hard "
                         "cut-off") from None


def ccs_select(scores, n_keep: int, n_hard: int, hard: str, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (unsorted) kept by CCS from ``scores``: drop the ``n_hard`` hardest
    (``hard`` = 'high'|'low' side; ties by index), then stratified sampling."""
    s = np.asarray(scores, dtype=np.float64)
    order = order_kept_first(s, hard)  # hardest first
    pool = np.sort(order[n_hard:])
    strata = stratum_ids(s[pool], k)
    budgets = stratum_budgets(np.bincount(strata, minlength=k), n_keep)
    kept = [rng.permutation(pool[strata == j])[: budgets[j]] for j in range(k) if budgets[j]]
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)


@register_strategy("ccs")
def ccs(scores, keep, ratio, y=None, rng=None, beta=0.1, k: int = 50, hard: str = "keep",
        class_balanced: bool = False, **_):
    """Coverage-centric coreset selection (Zheng et al. 2023, Alg. 1).

    ``beta``: hard cut-off rate (fraction of n dropped from the hard end; a
    number or ``{ratio: β}``), capped at the number removed so the budget can
    always be met; ``k``: number of strata (50, as the release); ``hard``:
    'keep' (the scorer's kept side is the hard side), 'high' or 'low';
    ``class_balanced``: run CCS inside each class with quotas ∝ class sizes
    (largest remainder), β applied per class.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    side = keep if hard == "keep" else hard
    if side not in ("high", "low"):
        raise ValueError(f"CCS hard must be 'keep', 'high' or 'low', got {hard!r}")
    b = resolve_beta(beta, ratio)
    rng = rng if rng is not None else np.random.default_rng(0)
    n_keep = n - n_removed(n, ratio)
    if not class_balanced:
        n_hard = min(int(np.floor(b * n)), n - n_keep)
        return np.sort(ccs_select(s, n_keep, n_hard, side, k, rng)).astype(np.int64)
    if y is None:
        raise ValueError("class-balanced CCS needs the training labels")
    y = np.asarray(y)
    kept = []
    for c, q in class_quotas(y, n_keep).items():
        idx = np.flatnonzero(y == c)
        n_hard = min(int(np.floor(b * len(idx))), len(idx) - q)
        kept.append(idx[ccs_select(s[idx], q, n_hard, side, k, rng)])
    return np.sort(np.concatenate(kept)).astype(np.int64)

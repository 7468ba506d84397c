"""Feature-space (geometry) scorers: k-center greedy, herding, Moderate coreset.

All three read the penultimate features of the final surrogate
(``ctx.features()``). Greedy set methods return their *pick order* as the
score (earlier pick = higher score), so the subsets of all ratios are nested.
The greedy loops run in torch (on ``ctx.device``) with one vectorised distance
update per pick; no Python loop over samples.
"""

from __future__ import annotations

import numpy as np

from .base import Protocol, register_scorer


def order_to_scores(order: np.ndarray, n: int) -> np.ndarray:
    """Pick order → score: the first pick gets ``n``, the last ``n − len(order) + 1``."""
    s = np.zeros(n, np.float64)
    s[np.asarray(order, np.int64)] = n - np.arange(len(order), dtype=np.float64)
    return s


def _within_class(y: np.ndarray, fn) -> np.ndarray:
    """Run ``fn(idx) -> pick order (local positions)`` per class; score = 1 − rank/n_c,
    so within each class earlier picks score higher and classes are comparable."""
    y = np.asarray(y)
    s = np.zeros(len(y), np.float64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        order = fn(idx)
        s[idx[order]] = 1.0 - np.arange(len(idx), dtype=np.float64) / len(idx)
    return s


def kcenter_greedy_order(feats, start: int, budget: int | None = None, device="cpu",
                         dtype: str = "float32") -> np.ndarray:
    """k-center greedy (Sener & Savarese, ICLR 2018, arXiv 1708.00489, Alg. 1):
    starting from ``start``, repeatedly add the point farthest (Euclidean) from
    its nearest chosen centre, u = argmax_i min_{j∈S} ‖x_i − x_j‖. Returns all n
    indices in pick order. Ties go to the lowest index.

    Each pick costs one O(n·d) distance update (‖x‖² − 2x·c + ‖c‖²), so the full
    order costs O(n²·d). ``budget`` = k < n runs k greedy picks and orders the
    remaining points by their distance to the k centres, farthest first (the
    order the greedy would start from); identical to the full run for the first
    k positions.
    """
    import torch

    x = torch.as_tensor(np.asarray(feats), device=device).to(getattr(torch, dtype)).flatten(1)
    n = x.shape[0]
    k = n if budget is None else int(min(max(budget, 1), n))
    sq = (x * x).sum(1)
    mind = torch.full((n,), float("inf"), dtype=x.dtype, device=x.device)
    order = torch.empty(k, dtype=torch.long, device=x.device)
    p = int(start)
    with torch.no_grad():
        for i in range(k):
            order[i] = p
            d = (sq - 2.0 * (x @ x[p]) + sq[p]).clamp_min_(0.0)
            torch.minimum(mind, d, out=mind)
            mind[p] = -1.0  # chosen: never again the argmax (d ≥ 0 keeps it at −1)
            p = int(torch.argmax(mind))  # first maximal index on ties
    picked = order.cpu().numpy()
    if k == n:
        return picked
    rest = np.setdiff1d(np.arange(n), picked)
    dist = mind.cpu().numpy().astype(np.float64)[rest]
    return np.concatenate([picked, rest[np.argsort(-dist, kind="stable")]])


def herding_order(feats, device="cpu", dtype: str = "float32", k: int | None = None) -> np.ndarray:
    """Herding as greedy mean matching (Welling, ICML 2009; Chen, Welling & Smola,
    UAI 2010, kernel herding with a linear kernel; the form used by iCaRL and
    DeepCore): with μ the mean feature and S_t the first t picks,

        x_{t+1} = argmin_{x ∉ S_t} ‖(t + 1)·μ − Σ_{s∈S_t} s − x‖₂,

    i.e. the point that brings the mean of the picks closest to μ. Returns all
    indices in pick order; ties go to the lowest index. (DeepCore's release takes
    the argmax of this distance, which is the farthest point; here the argmin.)
    Each pick costs O(n·d), so the whole order is O(n²·d); ``k``: stop after ``k``
    picks (O(n·k·d)) and order the rest by the distance that would choose pick k + 1.
    """
    import torch

    x = torch.as_tensor(np.asarray(feats), device=device).to(getattr(torch, dtype)).flatten(1)
    n = x.shape[0]
    mu = x.mean(0)
    sq = (x * x).sum(1)
    taken = torch.zeros(n, dtype=torch.bool, device=x.device)
    acc = torch.zeros_like(mu)
    order = np.empty(n, np.int64)
    inf = torch.tensor(float("inf"), dtype=x.dtype, device=x.device)
    k = n if k is None else max(0, min(int(k), n))
    with torch.no_grad():
        for t in range(k):
            target = (t + 1) * mu - acc
            d = sq - 2.0 * (x @ target)  # ‖target − x‖² up to the constant ‖target‖²
            p = int(torch.argmin(torch.where(taken, inf, d)))
            order[t] = p
            taken[p] = True
            acc += x[p]
        if k == n:
            return order
        d = (sq - 2.0 * (x @ ((k + 1) * mu - acc))).cpu().numpy().astype(np.float64)
    rest = np.flatnonzero(~taken.cpu().numpy())
    order[k:] = rest[np.argsort(d[rest], kind="stable")]
    return order


def class_median_distance(feats: np.ndarray, y: np.ndarray, center: str = "median") -> np.ndarray:
    """Euclidean distance of each sample to its class centre in feature space
    (Xia et al., ICLR 2023): centre = coordinate-wise median of the class's
    features (the authors' release) or the mean (``center='mean'``)."""
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', got {center!r}")
    f = np.asarray(feats, dtype=np.float64).reshape(len(y), -1)
    d = np.empty(len(y), np.float64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        ctr = np.median(f[idx], axis=0) if center == "median" else f[idx].mean(axis=0)
        d[idx] = np.sqrt(((f[idx] - ctr) ** 2).sum(axis=1))
    return d


def moderate_scores(dist: np.ndarray, band: str = "value") -> np.ndarray:
    """Moderate coreset (Xia et al., ICLR 2023): keep the samples whose score (here
    the distance to the class centre) is closest to the median score.

    ``band='value'``: −|d − median(d)| (the paper's "scores close to the score
    median"); ``band='rank'``: −|rank(d) − (n − 1)/2|, the symmetric quantile band
    around the median that the authors' release keeps. Keep high."""
    d = np.asarray(dist, dtype=np.float64)
    if band == "value":
        return -np.abs(d - np.median(d))
    if band == "rank":
        rank = np.empty(len(d), np.float64)
        rank[np.argsort(d, kind="stable")] = np.arange(len(d), dtype=np.float64)
        return -np.abs(rank - (len(d) - 1) / 2.0)
    raise ValueError(f"band must be 'value' or 'rank', got {band!r}")


# --- registered scorers ----------------------------------------------------


def picks(budget: int | float | None, m: int) -> int | None:
    """Greedy picks of a ``budget`` over ``m`` points: None (all), a count, or a fraction (a float ≤ 1)."""
    if budget is None:
        return None
    return int(np.ceil(budget * m)) if isinstance(budget, float) and budget <= 1 else int(budget)


@register_scorer("kcenter", keep="high", paper="Sener & Savarese, ICLR 2018, arXiv 1708.00489",
                 budget=None, per_class=False,
                 protocol=Protocol("PatrickZH/DeepCore deepcore/methods/kcentergreedy.py; main.py (--balance, "
                                   "default True)", selection="classbal", view="features of the final model",
                                   params={"per_class": True}, uniform={"per_class": False},
                                   notes="DeepCore extracts features with its own ResNet-18; here the surrogate's"))
def kcenter(ctx, budget: int | float | None = None, per_class: bool = False) -> np.ndarray:
    """k-center greedy cover of the surrogate's features; score = pick order.
    Start point drawn from the seed. ``budget``: number (or fraction, ≤ 1) of
    greedy picks, the rest ordered by distance; ``per_class``: one greedy run per
    training-label class (DeepCore's ``balance``)."""
    feats = ctx.features()
    rng = ctx.rng(salt=23)

    if per_class:
        return _within_class(ctx.y, lambda idx: kcenter_greedy_order(
            feats[idx], int(rng.integers(len(idx))), picks(budget, len(idx)), ctx.device))
    order = kcenter_greedy_order(feats, int(rng.integers(len(feats))), picks(budget, len(feats)), ctx.device)
    return order_to_scores(order, len(feats))


@register_scorer("herding", keep="high", paper="Welling, ICML 2009; Chen et al., UAI 2010 (kernel herding)",
                 per_class=True, budget=None,
                 protocol=Protocol("PatrickZH/DeepCore deepcore/methods/herding.py; main.py (--balance, default "
                                   "True)", selection="classbal", view="features of the final model"))
def herding(ctx, per_class: bool = True, budget: int | float | None = None) -> np.ndarray:
    """Greedy per-class mean matching on the surrogate's features; score = pick order.

    ``budget``: number (or fraction, ≤ 1) of greedy picks (per class with ``per_class``), the rest
    ordered by the distance of the next pick — O(n·budget) instead of O(n²)."""
    feats = ctx.features()

    if per_class:
        return _within_class(ctx.y, lambda idx: herding_order(feats[idx], ctx.device, k=picks(budget, len(idx))))
    return order_to_scores(herding_order(feats, ctx.device, k=picks(budget, len(feats))), len(feats))


@register_scorer("moderate", keep="high", paper="Xia et al., ICLR 2023 (Moderate coreset), openreview 7D5EECbOaf9",
                 center="median", band="value",
                 protocol=Protocol("tmllab/2023_ICLR_Moderate-DS selection.py (get_prune_idx)", selection="keep",
                                   view="features of the best-test-accuracy model",
                                   params={"band": "rank"}, uniform={"band": "value"}))
def moderate(ctx, center: str = "median", band: str = "value") -> np.ndarray:
    """Distance to the class centre in feature space; samples near the median distance score highest."""
    return moderate_scores(class_median_distance(ctx.features(), ctx.y, center), band)

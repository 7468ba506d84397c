"""The greedy + swap heuristic for the two programs (any n) and its cheap bounds; see
:mod:`prunebench.methods.optprune.solvers`."""

from __future__ import annotations

import math
import time

import numpy as np

from .programs import InfeasibleError, vec_norm

# --- greedy + swap heuristic --------------------------------------------------

class State:
    """Removed-set state for the ℓ2 heuristics: mask, ``s = Σ_W v_i``, ``c = V s``, ``q_i = ‖v_i‖²``.
    ``c`` is updated by one mat-vec per applied change and recomputed every ``resync_every``."""

    def __init__(self, V: np.ndarray, groups=None, resync_every: int = 64):
        self.V = V
        self.n, self.P = V.shape
        self.q = np.einsum("ij,ij->i", V, V, dtype=np.float64)
        self.mask = np.zeros(self.n, bool)
        self.s = np.zeros(self.P, np.float64)
        self.c = np.zeros(self.n, np.float64)
        self.groups = None if groups is None else np.asarray(groups)
        self.matvecs = 0
        self.resync_every = resync_every
        self._since = 0

    def rows(self, idx) -> np.ndarray:
        return np.asarray(self.V[np.asarray(idx, np.int64)], np.float64)

    def matvec(self, u: np.ndarray) -> np.ndarray:
        self.matvecs += 1
        return np.asarray(self.V @ np.asarray(u, self.V.dtype), np.float64)

    def apply(self, add=(), drop=()) -> None:
        add = np.sort(np.asarray(add, np.int64))
        drop = np.sort(np.asarray(drop, np.int64))
        if add.size == 0 and drop.size == 0:
            return
        self.mask[add] = True
        self.mask[drop] = False
        self._since += 1
        if self._since >= self.resync_every:
            self.resync()
            return
        delta = (self.rows(add).sum(0) if add.size else 0.0) - (self.rows(drop).sum(0) if drop.size else 0.0)
        self.s = self.s + delta
        self.c += self.matvec(delta)

    def resync(self) -> None:
        """Recompute ``s`` and ``c`` from the mask (bounds the drift of incremental updates)."""
        idx = np.flatnonzero(self.mask)
        self.s = self.rows(idx).sum(0) if idx.size else np.zeros(self.P)
        self.c = self.matvec(self.s)
        self._since = 0

    @property
    def f(self) -> float:
        return float(self.s @ self.s)


def _top(scores: np.ndarray, k: int, eligible: np.ndarray) -> np.ndarray:
    """Indices of the ``k`` smallest eligible scores, ordered by (score, index)."""
    idx = np.flatnonzero(eligible)
    if idx.size == 0 or k <= 0:
        return np.zeros(0, np.int64)
    sc = scores[idx]
    if k < idx.size:
        part = np.argpartition(sc, k - 1)[:k]
        idx, sc = idx[part], sc[part]
    order = np.lexsort((idx, sc))
    return idx[order][:k]


def greedy_budget(st: State, m: int, quotas=None, batch: int | None = None) -> None:
    """Greedy for min ‖s‖₂ with |W| = m (per-class quotas optional): repeatedly add the sample
    minimising ``‖s + v_i‖² = ‖s‖² + 2c_i + q_i``. For speed, each round takes a pool of the
    4B best candidates, runs the *exact* sequential greedy for B picks inside the pool (pool
    Gram matrix), and applies them with one mat-vec."""
    remaining = None if quotas is None else {int(k): int(v) for k, v in quotas.items()}
    g = st.groups
    B0 = batch or int(np.clip(m // 64, 16, 512))
    while int(st.mask.sum()) < m:
        left = m - int(st.mask.sum())
        B = min(B0, left)
        elig = ~st.mask
        if remaining is not None:
            elig &= np.isin(g, [c for c, r in remaining.items() if r > 0])
        pool = _top(2 * st.c + st.q, 4 * B, elig)
        if pool.size == 0:
            raise InfeasibleError("greedy ran out of eligible samples (quotas inconsistent)")
        Vp = st.rows(pool)
        Gp = Vp @ Vp.T
        cp = st.c[pool].copy()
        avail = np.ones(len(pool), bool)
        rem = None if remaining is None else dict(remaining)
        chosen = []
        for _ in range(B):
            sc = 2 * cp + np.diag(Gp)
            ok = avail.copy()
            if rem is not None:
                ok &= np.isin(g[pool], [c for c, r in rem.items() if r > 0])
            if not ok.any():
                break
            sc = np.where(ok, sc, np.inf)
            j = int(np.argmin(sc))
            chosen.append(j)
            avail[j] = False
            cp += Gp[:, j]
            if rem is not None:
                rem[int(g[pool[j]])] -= 1
        st.apply(add=pool[chosen])
        if remaining is not None:
            remaining = rem


def swap_search(st: State, max_swaps: int, top: int = 64, per_pool: int = 32, tol: float = 1e-12,
                 deadline: float | None = None) -> int:
    """Swap local search for min ‖s‖₂ at fixed |W| (and fixed per-class counts when the state has
    groups). Each round pools the ``top`` removed samples with the largest gain ``2c_j − q_j`` of
    dropping and the ``top`` kept ones with the smallest cost ``2c_k + q_k`` of adding, then makes
    up to ``per_pool`` best-pair swaps inside the pool, each of exact change
    ``Δ = q_j + q_k − 2 v_j·v_k + 2(c_k − c_j)`` (pool Gram matrix), and applies them with one
    mat-vec. Stops when no pair improves ‖s‖² by more than ``tol·‖s‖²``."""
    swaps = 0
    g = st.groups
    while swaps < max_swaps:
        if deadline is not None and time.perf_counter() > deadline:
            break
        inW, outW = np.flatnonzero(st.mask), np.flatnonzero(~st.mask)
        if inW.size == 0 or outW.size == 0:
            break
        J = _top(-(2 * st.c - st.q), top, st.mask)
        K = _top(2 * st.c + st.q, top, ~st.mask)
        pool = np.concatenate([J, K])
        Vp = st.rows(pool)
        Gp = Vp @ Vp.T
        cp = st.c[pool].copy()
        qp = np.diag(Gp).copy()
        inflag = np.zeros(len(pool), bool)
        inflag[: len(J)] = True
        start = inflag.copy()
        gp = None if g is None else g[pool]
        f = st.f
        did = 0
        while did < per_pool and swaps + did < max_swaps:
            jj, kk = np.flatnonzero(inflag), np.flatnonzero(~inflag)
            D = qp[jj][:, None] + qp[kk][None, :] - 2 * Gp[np.ix_(jj, kk)] + 2 * (cp[kk][None, :] - cp[jj][:, None])
            if gp is not None:
                D = np.where(gp[jj][:, None] == gp[kk][None, :], D, np.inf)
            r, ci = np.unravel_index(np.argmin(D), D.shape)
            if not D[r, ci] < -tol * max(f, 1e-300):
                break
            a, b = jj[r], kk[ci]
            inflag[a], inflag[b] = False, True
            cp += Gp[:, b] - Gp[:, a]
            f += float(D[r, ci])
            did += 1
        if did == 0:
            break
        st.apply(add=pool[inflag & ~start], drop=pool[start & ~inflag])
        swaps += did
    return swaps


def greedy_epsilon(st: State, epsilon: float, norm: str, max_swaps: int, deadline=None, rounds: int = 8,
                    cap: int | None = None) -> int:
    """Greedy for program 1: add samples (smallest ``‖s + v_i‖₂²`` first, exact sequential picks
    inside pools of candidates as in :func:`greedy_budget`) while ``‖s‖ ≤ ε`` in the program's
    norm; when nothing fits, swap-search to shrink ‖s‖₂ and try again (``rounds`` times)."""
    swaps = 0
    B0 = int(np.clip(st.n // 64, 16, 512))
    for _ in range(rounds):
        added_any = False
        while True:
            if deadline is not None and time.perf_counter() > deadline:
                break
            pool = _top(2 * st.c + st.q, 4 * B0, ~st.mask)
            if pool.size == 0:
                break
            Vp = st.rows(pool)
            Gp = Vp @ Vp.T
            cp = st.c[pool].copy()
            s = st.s.copy()
            avail = np.ones(len(pool), bool)
            chosen = []
            room = (st.n if cap is None else cap) - int(st.mask.sum())
            for _ in range(min(B0, room)):
                sc = np.where(avail, 2 * cp + np.diag(Gp), np.inf)
                order = np.lexsort((np.arange(len(sc)), sc))[: (1 if norm == "l2" else 8)]
                pick = None
                for j in order:
                    if np.isfinite(sc[j]) and vec_norm(s + Vp[j], norm) <= epsilon:
                        pick = int(j)
                        break
                if pick is None:
                    break
                chosen.append(pick)
                avail[pick] = False
                cp += Gp[:, pick]
                s += Vp[pick]
            if not chosen:
                break
            st.apply(add=pool[chosen])
            added_any = True
            if vec_norm(st.s, norm) > epsilon:  # numerical safety: undo the last pick
                st.apply(drop=pool[chosen[-1:]])
                break
        if deadline is not None and time.perf_counter() > deadline:
            break
        if st.mask.sum() == 0 or st.mask.all():
            break
        done = swap_search(st, max_swaps - swaps, deadline=deadline)
        swaps += done
        if done == 0 and not added_any:
            break
    return swaps


def _directions(st: State, norm: str, power_iters: int = 4) -> list[np.ndarray]:
    """A few dual-norm-unit directions for the cheap bounds: the total ``Σ_i v_i``, the
    solution's ``s`` and the leading right singular direction of ``V`` (power iteration from
    the total), each with both signs."""
    P = st.P
    total = np.asarray(st.V.sum(0, dtype=np.float64))
    cands = [total, st.s.copy()]
    u = total.copy() if np.any(total) else np.ones(P)
    for _ in range(power_iters):
        u = np.asarray(st.V.T @ np.asarray(st.matvec(u), st.V.dtype), np.float64)
        nu = np.linalg.norm(u)
        if nu == 0:
            break
        u /= nu
    cands.append(u)
    out = []
    for u in cands:
        if not np.any(u):
            continue
        if norm == "l2":
            u = u / np.linalg.norm(u)
        elif norm == "linf":  # dual is ℓ1: the signed coordinate of largest |u|
            j = int(np.argmax(np.abs(u)))
            e = np.zeros(P)
            e[j] = np.sign(u[j])
            u = e
        else:  # l1 → dual ℓ∞ ball: sign vector
            u = np.sign(u)
        out.extend([u, -u])
    return out


def budget_lower_bound(m, norm, st, quotas=None) -> float:
    """``max_u dist(0, [Σ m smallest (Vu)_i, Σ m largest (Vu)_i])`` (per class with quotas): for
    any ``u`` of dual norm ≤ 1, ``|uᵀΣ_W v| ≤ ‖Σ_W v‖``, and the interval is the range of
    ``uᵀΣ_W v`` over the relaxation — a valid lower bound for program 2."""
    best = 0.0
    g = st.groups
    for u in _directions(st, norm):
        a = st.matvec(u)
        if quotas is None:
            srt = np.sort(a)
            lo, hi = srt[:m].sum(), (srt[len(a) - m :].sum() if m else 0.0)
        else:
            lo = hi = 0.0
            for c, q in quotas.items():
                srt = np.sort(a[g == c])
                lo += srt[:q].sum()
                hi += srt[len(srt) - q :].sum() if q else 0.0
        best = max(best, lo if lo > 0 else (-hi if hi < 0 else 0.0))
    return float(best)


def epsilon_upper_bound(epsilon, norm, st, max_removed: int | None = None) -> int:
    """``min_u`` of the fractional knapsack ``max Σw s.t. (Vu)ᵀw ≤ ε, 0 ≤ w ≤ 1`` over a few
    ``u`` of dual norm ≤ 1 (each relaxes ``‖Vᵀw‖ ≤ ε``); floored, Σw being an integer."""
    best = st.n
    for u in _directions(st, norm):
        a = np.sort(st.matvec(u))
        neg, pos = a[a <= 0], a[a > 0]
        cap = epsilon - neg.sum()
        cum = np.cumsum(pos)
        k = int(np.searchsorted(cum, cap, side="right"))
        frac = (cap - (cum[k - 1] if k else 0.0)) / pos[k] if k < len(pos) else 0.0
        best = min(best, int(math.floor(len(neg) + k + frac + 1e-9)))
    return best if max_removed is None else min(best, max_removed)

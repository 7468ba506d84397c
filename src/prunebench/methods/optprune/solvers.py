"""The two discrete programs of optimization-based dataset pruning (Yang et al.,
ICLR 2023, "Dataset Pruning: Reducing Training Data by Examining Generalization
Influence", arXiv 2205.09329, §3).

Let ``V`` be the ``(n, P)`` matrix of per-sample parameter influences
``I_i = −H⁻¹∇L(z_i)/n`` (:mod:`prunebench.methods.optprune.influence`) and ``w ∈ {0,1}^n`` the
indicator of the *removed* set ``W``. The predicted parameter change of training
without ``W`` is ``−Vᵀw`` (additive influence), and the paper bounds the
generalization gap of the pruned model by the size of that change (ε-redundant
subset: ``‖θ̂_{−W} − θ̂‖₂ ≤ ε``; the gap bound grows with ε and with |W|/n).
The two programs:

1. **generalization-guaranteed pruning** — the largest removed set whose summed
   parameter change stays within ε::

       max_w Σ_i w_i   s.t.  ‖Vᵀw‖ ≤ ε,  w ∈ {0,1}^n

2. **fixed budget** — remove exactly ``m`` samples with the smallest summed change::

       min_w ‖Vᵀw‖     s.t.  Σ_i w_i = m   (optionally Σ_{i∈class c} w_i = m_c),  w ∈ {0,1}^n

Norms (``norm=``): ``"l2"`` — the paper's ε-redundancy is a Euclidean distance of
parameters, so this is the default; ``‖v‖₂ = max_{‖u‖₂ ≤ 1} uᵀv`` is linearised
*exactly* by supporting hyperplanes (outer approximation): each cut
``uᵀVᵀw ≤ t`` (or ``≤ ε``) is linear in ``w``, cuts at the incumbents' directions
are added until the MILP's solution satisfies the ℓ2 constraint, so the MILP
optimum of the cut model is a valid bound and, at convergence, the optimum.
``"linf"`` (``−t ≤ Vᵀw ≤ t``) and ``"l1"`` (``Σ_j z_j``, ``−z ≤ Vᵀw ≤ z``) are
linear as they stand; ``‖·‖₁ ≤ ε`` and ``√P·‖·‖_∞ ≤ ε`` both imply ``‖·‖₂ ≤ ε``.

Solvers (``meta["solver"]``):

* ``milp-highs`` / ``milp-highs-oa`` (n ≤ ``max_exact_n``): ``scipy.optimize.milp``
  (HiGHS branch and cut) with a wall-clock ``time_limit`` and an optional
  deterministic ``node_limit``; the incumbent of the heuristic below is imposed as a
  cut-off, so "infeasible" proves it optimal.
* ``greedy+swap`` (any n): adaptive-batch greedy on ``‖s + v_i‖₂²`` (``s`` the
  current sum; one mat-vec ``V s`` per batch), then best-pair swap local search
  (one mat-vec per accepted swap). Its bound: for program 2 the best of the
  one-dimensional relaxations ``|uᵀVᵀw| ≤ ‖Vᵀw‖`` over a few directions ``u``
  (usually 0, i.e. no certificate); for program 1 the fractional knapsack
  ``max Σw s.t. (Vu)ᵀw ≤ ε`` (a valid upper bound for every dual-norm-unit ``u``).
* ``brute-force`` (n ≤ 20): enumeration, for tests.

Every result is verified exactly in float64 before it is returned; an infeasible
request (m outside 0..n, a class quota above the class size, ε < 0) or a solution
that violates its constraint raises :class:`InfeasibleError` instead of being
returned.

Everything is deterministic for fixed inputs except when the wall-clock
``time_limit`` cuts the MILP short (``meta["time_limited"]``); use ``node_limit``
for a machine-independent budget.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

NORMS = ("l2", "linf", "l1")


class InfeasibleError(ValueError):
    """The requested program has no feasible solution, or a solver returned one that
    violates the constraints (never silently returned)."""


# --- small helpers ----------------------------------------------------------

def vec_norm(v: np.ndarray, norm: str) -> float:
    """``‖v‖`` in the program's norm (float64)."""
    v = np.asarray(v, np.float64)
    if norm == "l2":
        return float(np.sqrt(np.dot(v, v)))
    if norm == "linf":
        return float(np.abs(v).max()) if v.size else 0.0
    if norm == "l1":
        return float(np.abs(v).sum())
    raise ValueError(f"unknown norm {norm!r}; use one of {NORMS}")


def summed_influence(V: np.ndarray, removed) -> np.ndarray:
    """``Σ_{i∈W} I_i`` in float64 (the negative of the predicted parameter change)."""
    idx = np.asarray(removed, np.int64)
    if idx.size == 0:
        return np.zeros(V.shape[1], np.float64)
    return np.asarray(V[idx], np.float64).sum(0)


def objective(V: np.ndarray, removed, norm: str = "l2") -> float:
    """Predicted parameter change of removing ``removed``: ``‖Σ_{i∈W} I_i‖``."""
    return vec_norm(summed_influence(V, removed), norm)


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; use one of {NORMS}")


def removal_quotas(y: np.ndarray, m: int) -> dict[int, int]:
    """Per-class removal counts for a stratified fixed budget: keep quotas ∝ class sizes by
    largest remainder (as :func:`prunebench.select.class_quotas`), removed = size − kept."""
    from ...select import class_quotas

    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    keep = class_quotas(y, len(y) - m)
    return {int(c): int(k - keep[int(c)]) for c, k in zip(classes, counts)}


def _validate(V, m=None, epsilon=None, groups=None, quotas=None):
    V = np.asarray(V)
    if V.ndim != 2:
        raise ValueError(f"influence matrix must be (n, P), got shape {V.shape}")
    if not np.isfinite(V).all():
        raise ValueError("influence matrix contains non-finite values")
    n = len(V)
    if m is not None and not 0 <= m <= n:
        raise InfeasibleError(f"cannot remove m = {m} of n = {n} samples")
    if epsilon is not None and not epsilon >= 0:
        raise InfeasibleError(f"ε must be ≥ 0 (W = ∅ has change 0), got {epsilon}")
    if quotas is not None:
        if groups is None:
            raise ValueError("class quotas need the per-sample groups (labels)")
        g = np.asarray(groups)
        if len(g) != n:
            raise ValueError(f"{len(g)} group labels for {n} samples")
        for c, q in quotas.items():
            size = int((g == c).sum())
            if not 0 <= q <= size:
                raise InfeasibleError(f"class {c}: removal quota {q} outside 0..{size}")
        if m is not None and sum(quotas.values()) != m:
            raise InfeasibleError(f"class quotas sum to {sum(quotas.values())}, budget is {m}")
        if set(np.unique(g).tolist()) - set(quotas):
            raise InfeasibleError("a class present in the data has no quota")
    return V


# --- brute force (tests) -----------------------------------------------------

def brute_force(V: np.ndarray, program: str, m: int | None = None, epsilon: float | None = None,
                norm: str = "l2", groups=None, quotas=None, max_removed: int | None = None) -> tuple[np.ndarray, float]:
    """Exhaustive search over all subsets (n ≤ 20): program ``"budget"`` (min ``‖Σ_W I‖`` with
    ``|W| = m``, optional class ``quotas``) or ``"epsilon"`` (max ``|W|`` with ``‖Σ_W I‖ ≤ ε``;
    ties → smaller norm, then lexicographically smaller index set). Returns
    ``(removed indices, objective)`` with objective = norm (budget) or |W| (epsilon)."""
    _check_norm(norm)
    V = _validate(V, m, epsilon, groups, quotas)
    n = len(V)
    if n > 20:
        raise ValueError(f"brute force is for n ≤ 20, got {n}")
    Vd = np.asarray(V, np.float64)
    g = None if groups is None else np.asarray(groups)
    if program == "budget":
        if m is None:
            raise ValueError("the budget program needs m")
        best, best_set = math.inf, None
        for comb in itertools.combinations(range(n), m):
            if quotas is not None and any(int((g[list(comb)] == c).sum()) != q for c, q in quotas.items()):
                continue
            val = vec_norm(Vd[list(comb)].sum(0) if comb else np.zeros(V.shape[1]), norm)
            if val < best - 1e-15:
                best, best_set = val, comb
        if best_set is None:
            raise InfeasibleError("no subset satisfies the class quotas")
        return np.array(best_set, np.int64), float(best)
    if program == "epsilon":
        if epsilon is None:
            raise ValueError("the ε program needs epsilon")
        for size in range(n if max_removed is None else min(n, max_removed), -1, -1):
            best, best_set = math.inf, None
            for comb in itertools.combinations(range(n), size):
                val = vec_norm(Vd[list(comb)].sum(0) if comb else np.zeros(V.shape[1]), norm)
                if val <= epsilon and val < best - 1e-15:
                    best, best_set = val, comb
            if best_set is not None:
                return np.array(best_set, np.int64), float(size)
        raise InfeasibleError("no feasible subset (cannot happen for ε ≥ 0)")
    raise ValueError(f"unknown program {program!r}: use budget or epsilon")


# --- greedy + swap heuristic --------------------------------------------------

class _State:
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


def _greedy_budget(st: _State, m: int, quotas=None, batch: int | None = None) -> None:
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


def _swap_search(st: _State, max_swaps: int, top: int = 64, per_pool: int = 32, tol: float = 1e-12,
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


def _greedy_epsilon(st: _State, epsilon: float, norm: str, max_swaps: int, deadline=None, rounds: int = 8,
                    cap: int | None = None) -> int:
    """Greedy for program 1: add samples (smallest ``‖s + v_i‖₂²`` first, exact sequential picks
    inside pools of candidates as in :func:`_greedy_budget`) while ``‖s‖ ≤ ε`` in the program's
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
        done = _swap_search(st, max_swaps - swaps, deadline=deadline)
        swaps += done
        if done == 0 and not added_any:
            break
    return swaps


def _directions(st: _State, norm: str, power_iters: int = 4) -> list[np.ndarray]:
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


def _budget_lower_bound(m, norm, st, quotas=None) -> float:
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


def _epsilon_upper_bound(epsilon, norm, st, max_removed: int | None = None) -> int:
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


# --- MILP (HiGHS via scipy) ------------------------------------------------------

def _milp(c, A_rows, lo, hi, integrality, bounds_lo, bounds_hi, time_limit, node_limit):
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_array

    opts = {"disp": False, "time_limit": max(1e-3, float(time_limit)), "mip_rel_gap": 1e-9, "presolve": True}
    if node_limit is not None:
        opts["node_limit"] = int(node_limit)
    A = csr_array(np.asarray(A_rows, np.float64))
    res = milp(c=np.asarray(c, np.float64), constraints=[LinearConstraint(A, lo, hi)], integrality=integrality,
               bounds=Bounds(bounds_lo, bounds_hi), options=opts)
    return res


def _status_name(res) -> str:
    return {0: "optimal", 1: "limit", 2: "infeasible", 3: "unbounded", 4: "other"}.get(res.status, "other")


def _milp_budget(V, m, norm, time_limit, node_limit, incumbent_val, quotas, groups, max_cuts, init_dirs):
    """Program 2 as a MILP (linear norms) or a cutting-plane sequence of MILPs (ℓ2)."""
    n, P = V.shape
    Vd = np.asarray(V, np.float64)
    scale = float(np.abs(Vd).max()) or 1.0
    S = Vd / scale  # coefficients O(1); objective values rescaled back
    t0 = time.perf_counter()
    eq_rows = [np.ones(n)]
    eq_rhs = [m]
    if quotas is not None:
        g = np.asarray(groups)
        for c_, q in sorted(quotas.items()):
            eq_rows.append((g == c_).astype(np.float64))
            eq_rhs.append(q)
    best_w, best_val, bound, status, iters, time_limited = None, incumbent_val, 0.0, "limit", 0, False

    def finish_rows(rows_w, rows_aux):
        return np.concatenate([np.asarray(rows_w), np.asarray(rows_aux)], axis=1)

    if norm in ("linf", "l1"):
        naux = 1 if norm == "linf" else P
        c = np.concatenate([np.zeros(n), np.ones(naux)])
        aux = -np.ones((P, 1)) if norm == "linf" else -np.eye(P)
        rows = [finish_rows(S.T, aux), finish_rows(-S.T, aux)]
        lo = [np.full(P, -np.inf), np.full(P, -np.inf)]
        hi = [np.zeros(P), np.zeros(P)]
        rows.append(finish_rows(np.stack(eq_rows), np.zeros((len(eq_rows), naux))))
        lo.append(np.array(eq_rhs, float))
        hi.append(np.array(eq_rhs, float))
        if np.isfinite(incumbent_val):  # cut-off: strictly better than the incumbent
            rows.append(finish_rows(np.zeros((1, n)), np.ones((1, naux))))
            lo.append(np.array([-np.inf]))
            hi.append(np.array([incumbent_val / scale * (1 - 1e-9)]))
        res = _milp(c, np.vstack(rows), np.concatenate(lo), np.concatenate(hi),
                    np.concatenate([np.ones(n), np.zeros(naux)]), np.zeros(n + naux),
                    np.concatenate([np.ones(n), np.full(naux, np.inf)]), time_limit, node_limit)
        iters = 1
        status = _status_name(res)
        time_limited = status == "limit"
        if res.x is not None:
            w = res.x[:n] > 0.5
            val = vec_norm(Vd[w].sum(0), norm)
            if val < best_val:
                best_w, best_val = w, val
        if status == "infeasible":
            bound, status = best_val, "optimal"
        elif status == "optimal":
            bound = best_val
        else:
            db = getattr(res, "mip_dual_bound", None)
            bound = max(0.0, float(db) * scale) if db is not None and np.isfinite(db) else 0.0
        return best_w, best_val, bound, status, iters, time_limited

    # ℓ2: outer approximation  min t  s.t.  uₖᵀSᵀw ≤ t  for cut directions uₖ
    cuts = [u / np.linalg.norm(u) for u in init_dirs if np.any(u)]
    while True:
        remaining = time_limit - (time.perf_counter() - t0)
        if remaining <= 0 or iters >= max_cuts:
            time_limited = time_limited or remaining <= 0
            break
        U = np.array(cuts) if cuts else np.zeros((0, P))
        k = len(U)
        c = np.concatenate([np.zeros(n), [1.0]])
        rows = [np.concatenate([(S @ U.T).T, -np.ones((k, 1))], axis=1)] if k else []
        lo, hi = ([np.full(k, -np.inf)], [np.zeros(k)]) if k else ([], [])
        rows.append(np.concatenate([np.stack(eq_rows), np.zeros((len(eq_rows), 1))], axis=1))
        lo.append(np.array(eq_rhs, float))
        hi.append(np.array(eq_rhs, float))
        if np.isfinite(best_val):
            rows.append(np.concatenate([np.zeros((1, n)), np.ones((1, 1))], axis=1))
            lo.append(np.array([-np.inf]))
            hi.append(np.array([best_val / scale * (1 - 1e-9)]))
        res = _milp(c, np.vstack(rows), np.concatenate(lo), np.concatenate(hi),
                    np.concatenate([np.ones(n), [0]]), np.zeros(n + 1), np.concatenate([np.ones(n), [np.inf]]),
                    remaining, node_limit)
        iters += 1
        st_ = _status_name(res)
        if st_ == "infeasible":  # no set beats the incumbent even in the relaxation: optimal
            bound, status = best_val, "optimal"
            break
        if res.x is None:
            time_limited = True
            db = getattr(res, "mip_dual_bound", None)
            if db is not None and np.isfinite(db):
                bound = max(bound, float(db) * scale)
            break
        w = res.x[:n] > 0.5
        s = Vd[w].sum(0)
        val = float(np.linalg.norm(s))
        if val < best_val:
            best_w, best_val = w, val
        if st_ == "optimal":
            bound = max(bound, float(res.x[n]) * scale)
        else:
            time_limited = True
            db = getattr(res, "mip_dual_bound", None)
            if db is not None and np.isfinite(db):
                bound = max(bound, float(db) * scale)
        if best_val <= bound * (1 + 1e-9) + 1e-15:
            status = "optimal"
            bound = min(bound, best_val)
            break
        if val > 0:
            cuts.append(s / val)
    return best_w, best_val, bound, status, iters, time_limited


def _milp_epsilon(V, epsilon, norm, time_limit, node_limit, incumbent_count, max_cuts, init_dirs, repair,
                  cap: int | None = None):
    """Program 1 as a MILP (linear norms) or a cutting-plane sequence of MILPs (ℓ2)."""
    n, P = V.shape
    Vd = np.asarray(V, np.float64)
    scale = float(np.abs(Vd).max()) or 1.0
    S = Vd / scale
    eps = epsilon / scale
    t0 = time.perf_counter()
    cap = n if cap is None else int(cap)
    best_w, best_cnt, bound, status, iters, time_limited = None, incumbent_count, cap, "limit", 0, False
    cut_lb = incumbent_count + 1  # ask for strictly more than the incumbent
    if cut_lb > cap:  # the incumbent already removes the cap
        return None, best_cnt, best_cnt, "optimal", 0, False

    if norm in ("linf", "l1"):
        naux = 0 if norm == "linf" else P
        c = np.concatenate([-np.ones(n), np.zeros(naux)])
        if norm == "linf":
            rows, lo, hi = [S.T], [np.full(P, -eps)], [np.full(P, eps)]
        else:
            rows = [np.concatenate([S.T, -np.eye(P)], 1), np.concatenate([-S.T, -np.eye(P)], 1),
                    np.concatenate([np.zeros((1, n)), np.ones((1, P))], 1)]
            lo = [np.full(P, -np.inf), np.full(P, -np.inf), [-np.inf]]
            hi = [np.zeros(P), np.zeros(P), [eps]]
        rows.append(np.concatenate([np.ones((1, n)), np.zeros((1, naux))], 1))
        lo.append([cut_lb])
        hi.append([cap])
        res = _milp(c, np.vstack(rows), np.concatenate(lo), np.concatenate(hi),
                    np.concatenate([np.ones(n), np.zeros(naux)]), np.zeros(n + naux),
                    np.concatenate([np.ones(n), np.full(naux, np.inf)]), time_limit, node_limit)
        iters = 1
        st_ = _status_name(res)
        time_limited = st_ == "limit"
        if res.x is not None:
            w = repair(res.x[:n] > 0.5)
            if w.sum() > best_cnt:
                best_w, best_cnt = w, int(w.sum())
        if st_ == "infeasible":
            bound, status = best_cnt, "optimal"
        elif st_ == "optimal":
            bound = int(round(-res.fun))
            status = "optimal" if best_cnt >= bound else "limit"
        else:
            db = getattr(res, "mip_dual_bound", None)
            bound = int(math.floor(-float(db) + 1e-9)) if db is not None and np.isfinite(db) else n
        return best_w, best_cnt, max(bound, best_cnt), status, iters, time_limited

    cuts = [u / np.linalg.norm(u) for u in init_dirs if np.any(u)]
    while True:
        remaining = time_limit - (time.perf_counter() - t0)
        if remaining <= 0 or iters >= max_cuts:
            time_limited = time_limited or remaining <= 0
            break
        U = np.array(cuts) if cuts else np.zeros((0, P))
        k = len(U)
        rows = [(S @ U.T).T] if k else []
        lo = [np.full(k, -np.inf)] if k else []
        hi = [np.full(k, eps)] if k else []
        rows.append(np.ones((1, n)))
        lo.append([cut_lb])
        hi.append([cap])
        res = _milp(-np.ones(n), np.vstack(rows), np.concatenate(lo), np.concatenate(hi), np.ones(n),
                    np.zeros(n), np.ones(n), remaining, node_limit)
        iters += 1
        st_ = _status_name(res)
        if st_ == "infeasible":
            bound, status = best_cnt, "optimal"
            break
        if res.x is None:
            time_limited = True
            db = getattr(res, "mip_dual_bound", None)
            if db is not None and np.isfinite(db):
                bound = min(bound, int(math.floor(-float(db) + 1e-9)))
            break
        w = res.x[:n] > 0.5
        if st_ == "optimal":
            bound = min(bound, int(w.sum()))
        else:
            time_limited = True
            db = getattr(res, "mip_dual_bound", None)
            if db is not None and np.isfinite(db):
                bound = min(bound, int(math.floor(-float(db) + 1e-9)))
        s = Vd[w].sum(0)
        val = float(np.linalg.norm(s))
        wr = repair(w)
        if wr.sum() > best_cnt:
            best_w, best_cnt = wr, int(wr.sum())
            cut_lb = best_cnt + 1
        if best_cnt >= bound or cut_lb > cap:
            status = "optimal"
            break
        if val > epsilon:
            cuts.append(s / val)
    return best_w, best_cnt, max(bound, best_cnt), status, iters, time_limited


# --- public entry points ----------------------------------------------------------

def _base_meta(program, norm, n, P):
    return {"method": "optprune", "paper": "Yang et al., ICLR 2023, arXiv 2205.09329", "program": program,
            "norm": norm, "n": int(n), "P": int(P)}


def random_reference(V: np.ndarray, m: int, norm: str, seed: int = 0, draws: int = 8) -> float:
    """Median ``‖Σ_W I‖`` of ``draws`` uniformly random removed sets of size ``m`` (seeded): the
    scale a solver's objective should be compared with."""
    rng = np.random.default_rng([seed, 2205])
    vals = [objective(V, np.sort(rng.choice(len(V), m, replace=False)), norm) for _ in range(draws)] if m else [0.0]
    return float(np.median(vals))


def solve_budget(V: np.ndarray, m: int, norm: str = "l2", time_limit: float = 60.0, node_limit: int | None = None,
                 max_exact_n: int = 1000, groups=None, stratified: bool = False, max_swaps: int = 2000,
                 max_cuts: int = 200, seed: int = 0, solver: str = "auto") -> tuple[np.ndarray, dict]:
    """Program 2 (fixed budget): the removed set ``W``, ``|W| = m``, minimising ``‖Σ_{i∈W} I_i‖``
    (Yang et al. 2023 §3). ``stratified`` (needs ``groups`` = labels) adds per-class removal
    quotas (largest remainder). ``solver``: ``auto`` (heuristic, then MILP when
    ``n ≤ max_exact_n``), ``milp``, ``greedy`` or ``brute`` (n ≤ 20).
    Returns ``(removed indices sorted, meta)``."""
    _check_norm(norm)
    quotas = removal_quotas(groups, m) if stratified else None
    V = _validate(V, m, None, groups, quotas)
    n, P = V.shape
    meta = _base_meta("budget", norm, n, P)
    meta.update(m=int(m), stratified=bool(stratified))
    t0 = time.perf_counter()
    if solver == "brute":
        rem, val = brute_force(V, "budget", m=m, norm=norm, groups=groups, quotas=quotas)
        meta.update(solver="brute-force", status="optimal", objective=val, bound=val, gap=0.0, rel_gap=0.0,
                    time_limited=False)
        return _finish_budget(V, rem, m, norm, quotas, groups, meta, t0)
    st = _State(V, groups if stratified else None)
    if m > 0 and solver != "milp":
        _greedy_budget(st, m, quotas)
        swaps = _swap_search(st, max_swaps)
        meta["swaps"] = swaps
    best = np.flatnonzero(st.mask) if (solver != "milp" or m == 0) else None
    best_val = objective(V, best, norm) if best is not None else math.inf
    meta.update(solver="greedy+swap", status="heuristic", time_limited=False)
    bound = 0.0 if m == 0 else None
    use_milp = m > 0 and (solver == "milp" or (solver == "auto" and n <= max_exact_n))
    if use_milp:
        init_dirs = []
        if best is not None and best.size:
            init_dirs.append(summed_influence(V, best))
        init_dirs.append(np.asarray(V, np.float64).sum(0))
        w, val, b, status, iters, tl = _milp_budget(V, m, norm, time_limit, node_limit, best_val, quotas, groups,
                                                    max_cuts, init_dirs)
        if w is not None and val < best_val:
            best, best_val = np.flatnonzero(w), val
        bound = b
        meta.update(solver="milp-highs-oa" if norm == "l2" else "milp-highs", status=status, milp_iterations=iters,
                    time_limited=bool(tl), node_limit=node_limit, time_limit=float(time_limit))
    if best is None:
        raise InfeasibleError("the MILP found no feasible removed set within its limits")
    if bound is None:
        bound = _budget_lower_bound(m, norm, st, quotas)
        meta["bound_kind"] = "1-D relaxations along a few directions"
    else:
        meta["bound_kind"] = "MILP relaxation" if use_milp else "trivial"
    bound = min(bound, best_val)
    meta.update(objective=float(best_val), bound=float(bound), gap=float(best_val - bound),
                rel_gap=float((best_val - bound) / best_val) if best_val > 0 else 0.0,
                random_reference=random_reference(V, m, norm, seed))
    if meta["status"] != "optimal" and meta["gap"] <= 1e-12 * max(1.0, best_val):
        meta["status"] = "optimal"
    return _finish_budget(V, best, m, norm, quotas, groups, meta, t0)


def _finish_budget(V, removed, m, norm, quotas, groups, meta, t0):
    removed = np.sort(np.asarray(removed, np.int64))
    if len(removed) != m or len(np.unique(removed)) != m:
        raise InfeasibleError(f"solver returned {len(removed)} removed samples, budget is {m}")
    if quotas is not None:
        g = np.asarray(groups)
        for c, q in quotas.items():
            if int((g[removed] == c).sum()) != q:
                raise InfeasibleError(f"solver violated the quota of class {c}")
    val = objective(V, removed, norm)
    if not math.isclose(val, meta["objective"], rel_tol=1e-9, abs_tol=1e-15):
        raise InfeasibleError(f"objective check failed: {val} vs {meta['objective']}")
    meta["removed"] = int(m)
    meta["timing"] = {"solve_s": time.perf_counter() - t0}
    return removed, meta


def solve_epsilon(V: np.ndarray, epsilon: float, norm: str = "l2", time_limit: float = 60.0,
                  node_limit: int | None = None, max_exact_n: int = 1000, max_swaps: int = 2000, max_cuts: int = 200,
                  solver: str = "auto", max_removed: int | None = None) -> tuple[np.ndarray, dict]:
    """Program 1 (generalization-guaranteed): the largest removed set ``W`` with
    ``‖Σ_{i∈W} I_i‖ ≤ ε`` (Yang et al. 2023 §3). Returns ``(removed indices sorted, meta)``
    (``meta["objective"]`` = |W|, ``meta["change"]`` = its predicted parameter change).

    Caveat of the additive estimate: at an exact optimum of the training objective (with the
    weight-decay term in every sample's gradient) ``Σ_{all i} I_i = −H⁻¹∇J(θ̂) = 0``, so removing
    *everything* is feasible for every ε ≥ 0 (``meta["remove_all_feasible"]``); more generally
    ``Σ_W I = Σ_all I − Σ_kept I`` makes very large removals cheap. ``max_removed`` (not in the
    paper) caps ``|W|`` for studies that need a retrainable remainder."""
    _check_norm(norm)
    V = _validate(V, None, epsilon, None, None)
    n, P = V.shape
    if max_removed is not None and not 0 <= max_removed <= n:
        raise InfeasibleError(f"max_removed = {max_removed} outside 0..{n}")
    cap = n if max_removed is None else int(max_removed)
    epsilon = float(epsilon)
    meta = _base_meta("epsilon", norm, n, P)
    total = vec_norm(np.asarray(V, np.float64).sum(0), norm)
    meta.update(epsilon=epsilon, max_removed=cap, total_influence_norm=total, remove_all_feasible=bool(total <= epsilon))
    t0 = time.perf_counter()
    if solver == "brute":
        rem, cnt = brute_force(V, "epsilon", epsilon=epsilon, norm=norm, max_removed=cap)
        meta.update(solver="brute-force", status="optimal", objective=int(cnt), bound=int(cnt), gap=0, rel_gap=0.0,
                    time_limited=False)
        return _finish_epsilon(V, rem, epsilon, norm, meta, t0)
    Vd = V

    def repair(w: np.ndarray) -> np.ndarray:
        """Drop samples greedily (largest decrease of ‖s‖) until ‖s‖ ≤ ε, exactly in float64."""
        w = w.copy()
        s = summed_influence(Vd, np.flatnonzero(w))
        while vec_norm(s, norm) > epsilon and w.any():
            idx = np.flatnonzero(w)
            cand = np.asarray(Vd[idx], np.float64)
            vals = [vec_norm(s - v, norm) for v in cand] if len(idx) <= 4096 else \
                np.linalg.norm(s[None] - cand, axis=1)
            j = idx[int(np.argmin(vals))]
            w[j] = False
            s = s - np.asarray(Vd[j], np.float64)
        return w

    st = _State(V)
    if solver != "milp":
        meta["swaps"] = _greedy_epsilon(st, epsilon, norm, max_swaps, cap=cap)
    best = np.flatnonzero(repair(st.mask))
    meta.update(solver="greedy+swap", status="heuristic", time_limited=False)
    bound = None
    use_milp = solver == "milp" or (solver == "auto" and n <= max_exact_n)
    if use_milp:
        init_dirs = [summed_influence(V, best)] if best.size else []
        init_dirs.append(np.asarray(V, np.float64).sum(0))
        w, cnt, b, status, iters, tl = _milp_epsilon(V, epsilon, norm, time_limit, node_limit, len(best), max_cuts,
                                                     init_dirs, repair, cap)
        if w is not None and cnt > len(best):
            best = np.flatnonzero(w)
        bound = b
        meta.update(solver="milp-highs-oa" if norm == "l2" else "milp-highs", status=status, milp_iterations=iters,
                    time_limited=bool(tl), node_limit=node_limit, time_limit=float(time_limit))
        meta["bound_kind"] = "MILP relaxation"
    else:
        bound = _epsilon_upper_bound(epsilon, norm, st, cap)
        meta["bound_kind"] = "fractional knapsack along a few directions"
    bound = max(int(bound), len(best))
    meta.update(objective=int(len(best)), bound=int(bound), gap=int(bound - len(best)),
                rel_gap=float((bound - len(best)) / bound) if bound else 0.0)
    if meta["gap"] == 0:
        meta["status"] = "optimal"
    return _finish_epsilon(V, best, epsilon, norm, meta, t0)


def _finish_epsilon(V, removed, epsilon, norm, meta, t0):
    removed = np.sort(np.asarray(removed, np.int64))
    if len(removed) > meta["max_removed"] or len(np.unique(removed)) != len(removed):
        raise InfeasibleError(f"solver returned {len(removed)} removed samples, the cap is {meta['max_removed']}")
    change = objective(V, removed, norm)
    if change > epsilon * (1 + 1e-12) + 1e-300:
        raise InfeasibleError(f"removed set has ‖Σ I‖ = {change:.6g} > ε = {epsilon:.6g}")
    meta.update(change=float(change), removed=int(len(removed)))
    meta["timing"] = {"solve_s": time.perf_counter() - t0}
    return removed, meta

"""The two programs of :mod:`prunebench.methods.optprune.programs` (Yang et al., ICLR 2023,
arXiv 2205.09329, §3) solved: :func:`solve_budget` (program 2, fixed budget) and
:func:`solve_epsilon` (program 1, the largest ε-redundant set).

Solvers (``meta["solver"]``):

* ``milp-highs`` / ``milp-highs-oa`` (n ≤ ``max_exact_n``, :mod:`prunebench.methods.optprune.milp`):
  ``scipy.optimize.milp`` (HiGHS branch and cut) with a wall-clock ``time_limit`` and an optional
  deterministic ``node_limit``; the incumbent of the heuristic below is imposed as a
  cut-off, so "infeasible" proves it optimal.
* ``greedy+swap`` (any n, :mod:`prunebench.methods.optprune.heuristic`): adaptive-batch greedy on ``‖s + v_i‖₂²`` (``s`` the
  current sum; one mat-vec ``V s`` per batch), then best-pair swap local search
  (one mat-vec per accepted swap). Its bound: for program 2 the best of the
  one-dimensional relaxations ``|uᵀVᵀw| ≤ ‖Vᵀw‖`` over a few directions ``u``
  (usually 0, i.e. no certificate); for program 1 the fractional knapsack
  ``max Σw s.t. (Vu)ᵀw ≤ ε`` (a valid upper bound for every dual-norm-unit ``u``).
* ``brute-force`` (n ≤ 20, :func:`prunebench.methods.optprune.programs.brute_force`): enumeration,
  for tests.

Every result is verified exactly in float64 before it is returned; an infeasible
request (m outside 0..n, a class quota above the class size, ε < 0) or a solution
that violates its constraint raises :class:`InfeasibleError` instead of being
returned.

Everything is deterministic for fixed inputs except when the wall-clock
``time_limit`` cuts the MILP short (``meta["time_limited"]``); use ``node_limit``
for a machine-independent budget.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .heuristic import State, budget_lower_bound, epsilon_upper_bound, greedy_budget, greedy_epsilon, swap_search
from .milp import milp_budget, milp_epsilon
from .programs import (
    InfeasibleError,
    brute_force,
    check_norm,
    objective,
    removal_quotas,
    summed_influence,
    validate,
    vec_norm,
)

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
    check_norm(norm)
    quotas = removal_quotas(groups, m) if stratified else None
    V = validate(V, m, None, groups, quotas)
    n, P = V.shape
    meta = _base_meta("budget", norm, n, P)
    meta.update(m=int(m), stratified=bool(stratified))
    t0 = time.perf_counter()
    if solver == "brute":
        rem, val = brute_force(V, "budget", m=m, norm=norm, groups=groups, quotas=quotas)
        meta.update(solver="brute-force", status="optimal", objective=val, bound=val, gap=0.0, rel_gap=0.0,
                    time_limited=False)
        return _finish_budget(V, rem, m, norm, quotas, groups, meta, t0)
    st = State(V, groups if stratified else None)
    if m > 0 and solver != "milp":
        greedy_budget(st, m, quotas)
        swaps = swap_search(st, max_swaps)
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
        w, val, b, status, iters, tl = milp_budget(V, m, norm, time_limit, node_limit, best_val, quotas, groups,
                                                    max_cuts, init_dirs)
        if w is not None and val < best_val:
            best, best_val = np.flatnonzero(w), val
        bound = b
        meta.update(solver="milp-highs-oa" if norm == "l2" else "milp-highs", status=status, milp_iterations=iters,
                    time_limited=bool(tl), node_limit=node_limit, time_limit=float(time_limit))
    if best is None:
        raise InfeasibleError("the MILP found no feasible removed set within its limits")
    if bound is None:
        bound = budget_lower_bound(m, norm, st, quotas)
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
    check_norm(norm)
    V = validate(V, None, epsilon, None, None)
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

    st = State(V)
    if solver != "milp":
        meta["swaps"] = greedy_epsilon(st, epsilon, norm, max_swaps, cap=cap)
    best = np.flatnonzero(repair(st.mask))
    meta.update(solver="greedy+swap", status="heuristic", time_limited=False)
    bound = None
    use_milp = solver == "milp" or (solver == "auto" and n <= max_exact_n)
    if use_milp:
        init_dirs = [summed_influence(V, best)] if best.size else []
        init_dirs.append(np.asarray(V, np.float64).sum(0))
        w, cnt, b, status, iters, tl = milp_epsilon(V, epsilon, norm, time_limit, node_limit, len(best), max_cuts,
                                                     init_dirs, repair, cap)
        if w is not None and cnt > len(best):
            best = np.flatnonzero(w)
        bound = b
        meta.update(solver="milp-highs-oa" if norm == "l2" else "milp-highs", status=status, milp_iterations=iters,
                    time_limited=bool(tl), node_limit=node_limit, time_limit=float(time_limit))
        meta["bound_kind"] = "MILP relaxation"
    else:
        bound = epsilon_upper_bound(epsilon, norm, st, cap)
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

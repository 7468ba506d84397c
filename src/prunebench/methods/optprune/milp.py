"""The two programs as MILPs (HiGHS via ``scipy.optimize.milp``; ℓ2 by cutting planes); see
:mod:`prunebench.methods.optprune.solvers`."""

from __future__ import annotations

import math
import time

import numpy as np

from .programs import vec_norm

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


def milp_budget(V, m, norm, time_limit, node_limit, incumbent_val, quotas, groups, max_cuts, init_dirs):
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


def milp_epsilon(V, epsilon, norm, time_limit, node_limit, incumbent_count, max_cuts, init_dirs, repair,
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

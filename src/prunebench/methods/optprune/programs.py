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

The solvers are in :mod:`prunebench.methods.optprune.solvers`; :func:`brute_force` (n ≤ 20,
enumeration) is the tests' reference.
"""

from __future__ import annotations

import itertools
import math

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


def check_norm(norm: str) -> None:
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


def validate(V, m=None, epsilon=None, groups=None, quotas=None):
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
    check_norm(norm)
    V = validate(V, m, epsilon, groups, quotas)
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

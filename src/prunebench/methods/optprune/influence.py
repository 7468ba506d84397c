"""Parameter influence of removing training samples (Yang et al., ICLR 2023,
"Dataset Pruning: Reducing Training Data by Examining Generalization Influence",
arXiv 2205.09329, §3, after Koh & Liang, ICML 2017, §2.1).

With ``θ̂ = argmin_θ J(θ)``, ``J(θ) = (1/n) Σ_i ℓ(z_i, θ) + (wd/2)‖θ‖²`` and
``H = ∇²J(θ̂)``, up-weighting ``z`` by a small ε moves the optimum by
``ε · I_param(z)`` with ``I_param(z) = −H⁻¹ ∇_θ L(z, θ̂)`` (Koh & Liang Eq. 1;
the paper's influence of a sample on the parameters). Removing ``z`` is ε = −1/n,
so to first order

    θ̂_{−z} − θ̂ ≈ −I_param(z) / n ,            θ̂_{−W} − θ̂ ≈ −Σ_{i∈W} I_param(z_i) / n

(the paper's additive estimate for a removed set, which its discrete programs
constrain). This module returns the per-sample vectors

    I_i = −H⁻¹ ∇_θ L(z_i, θ̂) / n        (rows of an ``(n, P)`` array),

so the predicted parameter change of removing ``W`` is ``−Σ_{i∈W} I_i`` and its
norm ``‖Σ_{i∈W} I_i‖`` (the sign does not matter for any norm).
``∇_θ L(z_i)`` is the gradient of the sample's share of the objective: the
cross-entropy gradient ``g_i`` plus ``wd·θ̂`` when weight decay is part of the
training loss (``J = (1/n) Σ (ℓ_i + (wd/2)‖θ‖²)``); with ``wd = 0`` it is ``g_i``.

Two Hessians:

* ``last_layer`` (default): parameters = the final linear layer ``[W | b]`` on
  the penultimate features ``h`` (the rest of the network frozen). The
  per-sample gradient is ``(p_i − e_{y_i}) ⊗ [h_i, 1]`` and the Hessian of the
  mean softmax cross-entropy is exact and closed form,
  ``H = (1/n) Σ_i (diag p_i − p_i p_iᵀ) ⊗ [h_i,1][h_i,1]ᵀ + (wd + λ)·I``
  (λ = damping). Influence vectors by one Cholesky factorisation and chunked
  products. This is the convex (in the last layer) setting influence functions
  are derived for, and the one Koh & Liang use for deep networks (their
  Inception experiment freezes all but the top layer). The paper's method text
  could not be retrieved in full for this implementation (see the report); the
  last-layer Hessian is the default here and ``full`` the documented
  alternative.
* ``full``: every parameter of a small network, ``H`` applied by
  Hessian-vector products (``torch.func``: forward-over-reverse) and
  ``(H + λI) Y = ∇L`` solved for all samples at once by conjugate gradients.
  Only for small models / small n (it needs the ``(n, P)`` per-sample gradients).

Parameter layout of the ``last_layer`` vectors: **class-major**, entry
``k·(d+1) + j`` is ``W[k, j]`` for ``j < d`` and ``b[k]`` for ``j = d`` (``W`` as
in ``nn.Linear``, shape ``(K, d)``). Use :func:`to_linear_layout` to split a
vector into ``(W, b)``. Every norm used by the pruning programs is invariant to
this permutation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...numeric import softmax

__all__ = [
    "design",
    "last_layer_grads",
    "last_layer_hessian",
    "solve_influence",
    "last_layer_influence",
    "full_influence",
    "to_linear_layout",
    "from_linear_layout",
]


# --- last layer: closed form ------------------------------------------------

def design(features: np.ndarray, dtype=np.float64) -> np.ndarray:
    """``[h, 1]``: the last layer's input with a constant column for the bias, ``(n, d+1)``."""
    h = np.asarray(features, dtype)
    return np.concatenate([h, np.ones((len(h), 1), dtype)], axis=1)


def _residual(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = np.array(probs, np.float64, copy=True)
    r[np.arange(len(r)), np.asarray(y, np.int64)] -= 1.0
    return r


def last_layer_grads(features: np.ndarray, logits: np.ndarray, y: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Per-sample gradients of ``ℓ_i = CE(W h_i + b, y_i)`` w.r.t. the last layer,
    ``g_i = (p_i − e_{y_i}) ⊗ [h_i, 1]`` (class-major layout), shape ``(n, K·(d+1))``."""
    X1 = design(features, dtype)
    r = _residual(softmax(logits), y).astype(dtype)
    n, D = X1.shape
    return (r[:, :, None] * X1[:, None, :]).reshape(n, -1)


def last_layer_hessian(features: np.ndarray, logits: np.ndarray, damping: float = 0.0, chunk: int = 8192,
                       dtype=np.float64) -> np.ndarray:
    """Exact Hessian of the mean cross-entropy w.r.t. the last layer plus ``damping·I``:

    ``H = (1/n) Σ_i (diag p_i − p_i p_iᵀ) ⊗ x_i x_iᵀ + damping·I``, ``x_i = [h_i, 1]``
    (class-major layout). Row block ``a`` is ``(1/n) X_aᵀ [X | −X∘p_b]_{b ≥ a}`` with
    ``X_a = X∘p_a``: one matrix product per class and chunk of samples (torch, in ``dtype``),
    accumulated in float64; the lower blocks by symmetry.
    """
    import torch

    X1 = design(features, np.float64)
    P_ = softmax(logits)
    n, D = X1.shape
    K = P_.shape[1]
    tdt = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    H = np.zeros((K, D, K, D), np.float64)
    for s in range(0, n, chunk):
        Xc = torch.as_tensor(X1[s : s + chunk]).to(tdt)
        pc = torch.as_tensor(P_[s : s + chunk]).to(tdt)
        for a in range(K):
            Xa = Xc * pc[:, a : a + 1]
            R = (Xc[:, None, :] * pc[:, a:, None]).reshape(len(Xc), -1)  # [x p_b]_{b ≥ a}
            blk = -(Xa.T @ R).double().numpy().reshape(D, K - a, D)
            blk[:, 0, :] += (Xa.T @ Xc).double().numpy()
            H[a, :, a:, :] += blk
    for a in range(K):
        for b in range(a + 1, K):
            H[b, :, a, :] = H[a, :, b, :].T
    H = H.reshape(K * D, K * D) / n
    H = 0.5 * (H + H.T)
    H[np.diag_indices_from(H)] += damping
    return H


def solve_influence(G: np.ndarray, H: np.ndarray, n: int, reg_grad: np.ndarray | None = None, chunk: int = 8192,
                    dtype=np.float64) -> np.ndarray:
    """``I_i = −H⁻¹ (g_i + reg_grad) / n`` for every row ``g_i`` of ``G`` (Koh & Liang Eq. 1
    scaled by the removal weight 1/n; Yang et al. §3). ``H`` must be symmetric positive
    definite (a Cholesky factorisation is used; raises ``numpy.linalg.LinAlgError`` otherwise).
    ``H⁻¹`` is formed once from the factor and applied in chunks of rows."""
    from scipy.linalg import cho_factor, cho_solve

    c = cho_factor(np.asarray(H, np.float64), lower=True, check_finite=True)
    Hinv = cho_solve(c, np.eye(H.shape[0]), check_finite=False)
    Hinv = 0.5 * (Hinv + Hinv.T)
    Hd = Hinv.astype(dtype)
    out = np.empty((len(G), H.shape[0]), dtype)
    reg = None if reg_grad is None else np.asarray(reg_grad, np.float64).astype(dtype)
    for s in range(0, len(G), chunk):
        g = np.asarray(G[s : s + chunk], dtype)
        if reg is not None:
            g = g + reg
        out[s : s + chunk] = -(g @ Hd) / n
    return out


def to_linear_layout(vec: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a class-major last-layer vector (or ``(..., K·(d+1))`` array) into
    ``W (..., K, d)`` and ``b (..., K)`` as in ``nn.Linear``."""
    v = np.asarray(vec)
    Wb = v.reshape(*v.shape[:-1], num_classes, -1)
    return Wb[..., :-1], Wb[..., -1]


def from_linear_layout(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_linear_layout`: ``W (K, d)``, ``b (K,)`` → class-major vector."""
    return np.concatenate([np.asarray(W), np.asarray(b)[..., None]], axis=-1).reshape(-1)


def last_layer_influence(features: np.ndarray, logits: np.ndarray, y: np.ndarray, damping: float = 0.01,
                         weight_decay: float = 0.0, head: tuple[np.ndarray, np.ndarray] | None = None,
                         dtype=np.float64, chunk: int = 8192) -> tuple[np.ndarray, dict]:
    """Influence vectors ``I_i = −H⁻¹ ∇L(z_i)/n`` of the last linear layer (Yang et al. 2023 §3;
    Koh & Liang 2017 Eq. 1), with ``H = H_CE + (weight_decay + damping)·I`` and
    ``∇L(z_i) = g_i + weight_decay·θ̂`` (``θ̂ = [W | b]`` from ``head``; needed when
    ``weight_decay > 0``). Returns ``(I (n, K·(d+1)), info)``.

    ``features``: penultimate features ``(n, d)``; ``logits``: ``W h + b`` at θ̂ ``(n, K)``;
    ``y``: the training labels (the ones the model was trained on)."""
    features = np.asarray(features)
    logits = np.asarray(logits, np.float64)
    y = np.asarray(y, np.int64)
    n, K = logits.shape
    if len(features) != n or len(y) != n:
        raise ValueError(f"features ({len(features)}), logits ({n}) and labels ({len(y)}) differ in length")
    if not (np.isfinite(features).all() and np.isfinite(logits).all()):
        raise ValueError("features/logits contain non-finite values")
    if weight_decay < 0 or damping < 0:
        raise ValueError("weight_decay and damping must be ≥ 0")
    reg = None
    if weight_decay > 0:
        if head is None:
            raise ValueError("weight_decay > 0 needs the head parameters (W, b) for the wd·θ term")
        reg = weight_decay * from_linear_layout(*head).astype(np.float64)
    import time

    t0 = time.perf_counter()
    H = last_layer_hessian(features, logits, damping + weight_decay, chunk=chunk, dtype=dtype)
    t1 = time.perf_counter()
    G = last_layer_grads(features, logits, y, dtype=dtype)
    eig_min = None
    if H.shape[0] <= 512:  # diagnostics only (the Cholesky factorisation certifies H ≻ 0)
        ev = np.linalg.eigvalsh(H)
        eig_min, eig_max = float(ev[0]), float(ev[-1])
    Iv = solve_influence(G, H, n, reg, chunk=chunk, dtype=dtype)
    t2 = time.perf_counter()
    info = {"hessian": "last_layer", "P": int(H.shape[0]), "damping": float(damping),
            "weight_decay": float(weight_decay), "layout": "class-major [W|b]",
            "timing": {"hessian_s": t1 - t0, "grads_solve_s": t2 - t1}}
    if eig_min is not None:
        info.update(hessian_eig_min=eig_min, hessian_eig_max=eig_max)
    return Iv, info


# --- whole network: Hessian-vector products + conjugate gradients -------------

def full_influence(logits_fn: Callable, theta, x, y, damping: float = 0.01, weight_decay: float = 0.0,
                   chunk: int = 256, method: str = "auto", cg_tol: float | None = None, cg_maxiter: int = 1000,
                   hvp_chunk: int = 64, dense_max_p: int = 3000) -> tuple[np.ndarray, dict]:
    """Influence vectors ``I_i = −(H + λI)⁻¹ ∇L(z_i)/n`` for every parameter of a small
    network (Yang et al. 2023 §3 with Koh & Liang 2017 Eq. 1), ``H = ∇²J(θ̂)`` the exact
    Hessian of ``J(θ) = mean_i CE(logits_fn(θ, x_i), y_i) + (wd/2)‖θ‖²`` (so ``H`` includes
    ``wd·I``), ``λ = damping``.

    * ``logits_fn(theta_flat, xb) -> (b, K)``: the model as a function of one flat
      parameter vector (e.g. via ``torch.func.functional_call``).
    * Per-sample gradients ``∇ℓ_i`` by ``vmap(grad)`` in chunks of ``chunk`` samples.
    * ``Hv`` by forward-over-reverse (``torch.func.jvp`` of ``grad``), vmapped over
      ``hvp_chunk`` vectors at a time.
    * ``method="cg"``: all ``n`` systems solved together by conjugate gradients (one step
      size per column) to ``‖r‖ ≤ cg_tol·‖b‖`` (default tol 1e-10 in float64, 1e-5 in
      float32). ``method="dense"``: ``H`` assembled from ``P`` Hessian-vector products
      (columns of the identity), symmetrised, Cholesky-solved. ``auto``: dense when
      ``P ≤ dense_max_p``, else CG.
    * Raises ``ValueError`` when the damped Hessian is not positive definite at θ̂
      (non-positive curvature in CG, or a failed Cholesky: raise ``damping``) or when CG
      does not converge.

    Returns ``(I (n, P) float64 numpy, info)`` with the parameter order of ``theta``.
    """
    import torch
    import torch.nn.functional as F
    from torch.func import grad, jvp, vmap

    theta = torch.as_tensor(theta).detach()
    x = torch.as_tensor(x)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    n = len(yt)
    wd = float(weight_decay)

    def sample_loss(th, xi, yi):
        return F.cross_entropy(logits_fn(th, xi[None]), yi[None])

    def J(th):
        return F.cross_entropy(logits_fn(th, x), yt) + 0.5 * wd * (th * th).sum()

    gfn = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    G = torch.cat([gfn(theta, x[s : s + chunk], yt[s : s + chunk]) for s in range(0, n, chunk)])
    B = G + wd * theta  # ∇L(z_i) = ∇ℓ_i + wd·θ̂

    gJ = grad(J)

    def hvp_one(v):
        return jvp(gJ, (theta,), (v,))[1]

    hvp_many = vmap(hvp_one)

    def A(V):  # V: (m, P) rows → (H + λI) rows
        out = torch.cat([hvp_many(V[s : s + hvp_chunk]) for s in range(0, len(V), hvp_chunk)])
        return out + damping * V

    P = theta.numel()
    if method == "auto":
        method = "dense" if P <= dense_max_p else "cg"
    if method == "dense":
        Hd = A(torch.eye(P, dtype=theta.dtype)).double()
        Hd = 0.5 * (Hd + Hd.T)
        try:
            L = torch.linalg.cholesky(Hd)
        except RuntimeError as exc:
            raise ValueError("the damped Hessian is not positive definite at θ̂ (raise damping)") from exc
        Xs = torch.cholesky_solve(B.double().T, L).T
        Iv = (-Xs / n).cpu().numpy()
        info = {"hessian": "full", "method": "dense", "P": int(P), "damping": float(damping), "weight_decay": wd}
        return Iv, info
    if method != "cg":
        raise ValueError(f"unknown full-Hessian method {method!r}: use auto, dense or cg")
    if cg_tol is None:
        cg_tol = 1e-10 if theta.dtype == torch.float64 else 1e-5
    X = torch.zeros_like(B)
    R = B.clone()
    Pd = R.clone()
    rs = (R * R).sum(1)
    bnorm = B.norm(dim=1).clamp_min(torch.finfo(B.dtype).tiny)
    it = 0
    active = rs.sqrt() > cg_tol * bnorm
    while bool(active.any()):
        if it >= cg_maxiter:
            worst = float((rs.sqrt() / bnorm).max())
            raise ValueError(f"CG did not converge in {cg_maxiter} iterations (worst relative residual {worst:.2e})")
        idx = torch.nonzero(active).flatten()
        Ap = A(Pd[idx])
        curv = (Pd[idx] * Ap).sum(1)
        if bool((curv <= 0).any()):
            raise ValueError("non-positive curvature in CG: the damped Hessian is not positive definite "
                             "at θ̂ (raise damping)")
        alpha = rs[idx] / curv
        X[idx] += alpha[:, None] * Pd[idx]
        R[idx] -= alpha[:, None] * Ap
        rs_new = (R[idx] * R[idx]).sum(1)
        beta = rs_new / rs[idx]
        Pd[idx] = R[idx] + beta[:, None] * Pd[idx]
        rs[idx] = rs_new
        active = rs.sqrt() > cg_tol * bnorm
        it += 1
    Iv = (-X / n).detach().cpu().numpy().astype(np.float64)
    info = {"hessian": "full", "method": "cg", "P": int(P), "damping": float(damping), "weight_decay": wd,
            "cg_iterations": it, "cg_tol": cg_tol}
    return Iv, info

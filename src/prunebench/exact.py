"""The tiny exact-retraining harness: small models retrained exactly, in float64.

Used wherever a method's approximation is checked against the quantity it
approximates by actual retraining (MoSo's leave-one-out, Tan et al., NeurIPS
2023, arXiv 2310.14664: the MoSo score's definition; the influence / parameter-change estimates of
optimization-based pruning, Yang et al., ICLR 2023, arXiv 2205.09329).

Models (``model=``):

* ``"logreg"`` — multinomial logistic regression, ``params = [W (d, K), b (K,)]``,
  zero init (the problem is convex; the init is irrelevant for the optimum but
  fixes the finite trajectory).
* ``"mlp"`` — one hidden layer of ``hidden`` tanh units (smooth, so finite
  differences are well behaved), ``params = [W1 (d, h), b1 (h,), W2 (h, K), b2 (K,)]``,
  seeded init ``W ~ N(0, 1/fan_in)``, zero biases.
* ``"mlp_relu"`` — the same with ReLU.

Training is full-batch gradient descent on :func:`objective` for a fixed
number of steps, ``θ_{t+1} = θ_t − η_t ∇J(θ_t)``, with ``η_t`` from
:func:`prunebench.numeric.lr_at` (constant by default; the schedules of
``train.Recipe``). Every call with the same inputs gives bit-identical
parameters (no randomness besides the seeded init; float64 CPU).

Parameters are a ``list`` of float64 tensors; :func:`flat` / :func:`unflat`
convert to and from one vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .numeric import lr_at

MODELS = ("logreg", "mlp", "mlp_relu")
DTYPE = torch.float64


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown tiny model {model!r}; known: {', '.join(MODELS)}")


def init_params(d: int, num_classes: int, model: str = "logreg", hidden: int = 16, seed: int = 0) -> list[torch.Tensor]:
    """Initial parameters: zeros for ``logreg``; for the MLPs, ``N(0, 1/fan_in)``
    weights from a ``torch.Generator`` seeded with ``seed`` and zero biases."""
    _check_model(model)
    if model == "logreg":
        return [torch.zeros(d, num_classes, dtype=DTYPE), torch.zeros(num_classes, dtype=DTYPE)]
    g = torch.Generator().manual_seed(int(seed))
    w1 = torch.randn(d, hidden, generator=g, dtype=DTYPE) / math.sqrt(d)
    w2 = torch.randn(hidden, num_classes, generator=g, dtype=DTYPE) / math.sqrt(hidden)
    return [w1, torch.zeros(hidden, dtype=DTYPE), w2, torch.zeros(num_classes, dtype=DTYPE)]


def forward(params: list[torch.Tensor], X: torch.Tensor, model: str = "logreg") -> torch.Tensor:
    """Logits ``(n, K)``."""
    _check_model(model)
    if model == "logreg":
        W, b = params
        return X @ W + b
    W1, b1, W2, b2 = params
    h = X @ W1 + b1
    h = torch.tanh(h) if model == "mlp" else torch.relu(h)
    return h @ W2 + b2


def per_sample_loss(params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor, model: str = "logreg") -> torch.Tensor:
    """Cross-entropy ``ℓ_i(θ)`` for every row, shape ``(n,)``."""
    return F.cross_entropy(forward(params, X, model), y, reduction="none")


def sqnorm(params: list[torch.Tensor]) -> torch.Tensor:
    return sum((p * p).sum() for p in params)


def objective(params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None,
              model: str = "logreg", weight_decay: float = 1e-3) -> torch.Tensor:
    """``J(θ) = Σ_i w_i ℓ_i(θ) / Σ_i w_i + (weight_decay/2)·‖θ‖²``.

    ``weights=None`` means all ones; a weight of 0 removes a sample (so
    ``weights = 1 − e_i`` is training on ``S∖z_i``, the leave-one-out set of
    MoSo, Tan et al. 2023, the MoSo score's definition)."""
    losses = per_sample_loss(params, X, y, model)
    if weights is None:
        data = losses.mean()
    else:
        w = torch.as_tensor(weights, dtype=losses.dtype)
        data = (w * losses).sum() / w.sum()
    return data + 0.5 * weight_decay * sqnorm(params)


def _as_data(X, y) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(np.asarray(X), dtype=DTYPE), torch.as_tensor(np.asarray(y), dtype=torch.long)


@dataclass
class Trajectory:
    """Full-batch GD trajectory: ``params[t]`` is θ_t (before update t, t = 0..steps;
    ``params[steps]`` is the final model) and ``lrs[t]`` the lr η_t of update t."""

    params: list[list[torch.Tensor]]
    lrs: list[float]

    @property
    def final(self) -> list[torch.Tensor]:
        return self.params[-1]


def _data_grads(params: list[torch.Tensor], X: torch.Tensor, Y: torch.Tensor, R_scale: torch.Tensor,
                model: str) -> list[torch.Tensor]:
    """Closed-form gradient of ``Σ_i s_{m,i} ℓ_i`` for a stack of M models.

    ``params`` carry a leading model axis (``W (M, d, K)`` ...), ``Y`` is one-hot
    ``(n, K)``, ``R_scale`` ``(M, n)`` the per-model sample weights ``w_i/Σw``.
    Backpropagation written out: ∂ℓ/∂z = softmax(z) − onehot(y)."""
    if model == "logreg":
        W, b = params
        P = torch.softmax(torch.einsum("nd,mdk->mnk", X, W) + b[:, None, :], dim=-1)
        R = (P - Y) * R_scale[..., None]
        return [torch.einsum("nd,mnk->mdk", X, R), R.sum(1)]
    W1, b1, W2, b2 = params
    A = torch.einsum("nd,mdh->mnh", X, W1) + b1[:, None, :]
    H = torch.tanh(A) if model == "mlp" else torch.relu(A)
    P = torch.softmax(torch.einsum("mnh,mhk->mnk", H, W2) + b2[:, None, :], dim=-1)
    R = (P - Y) * R_scale[..., None]
    dH = torch.einsum("mnk,mhk->mnh", R, W2)
    dA = dH * ((1 - H * H) if model == "mlp" else (A > 0).to(A.dtype))
    return [torch.einsum("nd,mnh->mdh", X, dA), dA.sum(1), torch.einsum("mnh,mnk->mhk", H, R), R.sum(1)]


def train_many(X, y, num_classes: int, weights, model: str = "logreg", steps: int = 200, lr: float = 0.5,
               weight_decay: float = 1e-3, hidden: int = 16, seed: int = 0, init: list[torch.Tensor] | None = None,
               schedule: str = "constant", keep: bool = False) -> list | list[list[torch.Tensor]]:
    """Train M models at once, one per row of ``weights`` ``(M, n)``, by the same
    deterministic full-batch GD on :func:`objective` (same init for all).

    Gradients are closed-form (checked against autograd in the tests), so a
    leave-one-out sweep over n samples is one batched run. Returns the final
    stacked parameters (leading axis M), or with ``keep`` the list over t = 0..steps."""
    _check_model(model)
    Xt, yt = _as_data(X, y)
    Wt = torch.as_tensor(np.asarray(weights), dtype=DTYPE)
    if Wt.ndim != 2 or Wt.shape[1] != len(yt):
        raise ValueError(f"weights must be (M, n={len(yt)}), got {tuple(Wt.shape)}")
    M = Wt.shape[0]
    if init is None:
        init = init_params(Xt.shape[1], num_classes, model, hidden, seed)
    params = [p.detach().to(DTYPE)[None].repeat((M,) + (1,) * p.dim()) for p in init]
    Y = F.one_hot(yt, num_classes).to(DTYPE)
    scale = Wt / Wt.sum(1, keepdim=True)
    hist = [[p.clone() for p in params]] if keep else None
    with torch.no_grad():
        for t in range(steps):
            eta = lr_at(t, steps, float(lr), schedule)
            grads = _data_grads(params, Xt, Y, scale, model)
            params = [p - eta * (g + weight_decay * p) for p, g in zip(params, grads)]
            if keep:
                hist.append([p.clone() for p in params])
    return hist if keep else params


def trajectory(X, y, num_classes: int, weights=None, model: str = "logreg", steps: int = 200, lr: float = 0.5,
               weight_decay: float = 1e-3, hidden: int = 16, seed: int = 0, init: list[torch.Tensor] | None = None,
               schedule: str = "constant", keep: bool = True) -> Trajectory:
    """Run full-batch GD and return every iterate (``keep=False``: only the last).

    ``θ_{t+1} = θ_t − η_t ∇_θ J(θ_t)`` with ``J`` = :func:`objective`, t = 0..steps−1."""
    n = len(np.asarray(y))
    w = np.ones((1, n)) if weights is None else np.asarray(weights, dtype=np.float64)[None]
    out = train_many(X, y, num_classes, w, model, steps, lr, weight_decay, hidden, seed, init, schedule, keep)
    lrs = [lr_at(t, steps, float(lr), schedule) for t in range(steps)]
    if keep:
        return Trajectory([[p[0] for p in ps] for ps in out], lrs)
    return Trajectory([[p[0] for p in out]], lrs)


def train(X, y, num_classes: int, weights=None, model: str = "logreg", steps: int = 200, lr: float = 0.5,
          weight_decay: float = 1e-3, hidden: int = 16, seed: int = 0, init: list[torch.Tensor] | None = None,
          schedule: str = "constant") -> list[torch.Tensor]:
    """Final parameters of deterministic full-batch GD on :func:`objective` (see :func:`trajectory`)."""
    return trajectory(X, y, num_classes, weights, model, steps, lr, weight_decay, hidden, seed, init,
                      schedule, keep=False).final


def unstack(params: list[torch.Tensor], m: int) -> list[torch.Tensor]:
    """Model ``m`` of the stacked parameters returned by :func:`train_many`."""
    return [p[m] for p in params]


def flat(params: list[torch.Tensor]) -> torch.Tensor:
    """All parameters concatenated into one vector."""
    return torch.cat([p.reshape(-1) for p in params])


def unflat(vec: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    """Inverse of :func:`flat`: split ``vec`` into tensors shaped like ``like``."""
    out, o = [], 0
    for p in like:
        out.append(vec[o : o + p.numel()].reshape(p.shape))
        o += p.numel()
    if o != vec.numel():
        raise ValueError(f"vector has {vec.numel()} entries, parameters {o}")
    return out


def per_sample_grads(params: list[torch.Tensor], X, y, model: str = "logreg") -> torch.Tensor:
    """Per-sample gradients ``∇_θ ℓ_i(θ)`` (data term only, no weight decay), shape ``(n, P)``
    in :func:`flat` order, closed form (the tests check them against ``torch.func.vmap(grad)``)."""
    _check_model(model)
    Xt, yt = _as_data(X, y)
    n = len(yt)
    K = params[-1].shape[-1]
    with torch.no_grad():
        Y = F.one_hot(yt, K).to(DTYPE)
        if model == "logreg":
            W, b = params
            R = torch.softmax(Xt @ W + b, -1) - Y
            return torch.cat([(Xt[:, :, None] * R[:, None, :]).reshape(n, -1), R], 1)
        W1, b1, W2, b2 = params
        A = Xt @ W1 + b1
        H = torch.tanh(A) if model == "mlp" else torch.relu(A)
        R = torch.softmax(H @ W2 + b2, -1) - Y
        dA = (R @ W2.T) * ((1 - H * H) if model == "mlp" else (A > 0).to(A.dtype))
        return torch.cat([(Xt[:, :, None] * dA[:, None, :]).reshape(n, -1), dA,
                          (H[:, :, None] * R[:, None, :]).reshape(n, -1), R], 1)


def objective_grad(params: list[torch.Tensor], X, y, weights=None, model: str = "logreg",
                   weight_decay: float = 1e-3) -> torch.Tensor:
    """``∇_θ J(θ)`` as a flat vector."""
    Xt, yt = _as_data(X, y)
    ps = [p.detach().requires_grad_(True) for p in params]
    w = None if weights is None else torch.as_tensor(np.asarray(weights), dtype=DTYPE)
    with torch.enable_grad():
        return flat(torch.autograd.grad(objective(ps, Xt, yt, w, model, weight_decay), ps))


def hessian(params: list[torch.Tensor], X, y, weights=None, model: str = "logreg",
            weight_decay: float = 1e-3) -> torch.Tensor:
    """Dense Hessian ``∇²_θ J(θ)`` ``(P, P)`` of :func:`objective` (tiny models only)."""
    Xt, yt = _as_data(X, y)
    like = [p.detach() for p in params]
    w = None if weights is None else torch.as_tensor(np.asarray(weights), dtype=DTYPE)

    def f(v):
        return objective(unflat(v, like), Xt, yt, w, model, weight_decay)

    return torch.autograd.functional.hessian(f, flat(like))


def tiny_digits(n: int, seed: int = 0, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, stratified subset of sklearn's 8×8 digits.

    ``classes``: the digit classes to use (default all ten), relabelled
    ``0..len(classes)−1`` in the given order. Each class gets ``n // K``
    samples, the first ``n mod K`` classes one more; within a class the rows
    are drawn without replacement with ``numpy.random.default_rng(seed)``.
    Returns ``X`` float64 ``(n, 64)`` standardised per feature over the subset
    (constant features → 0) and ``y`` int64, rows in (class, draw) order."""
    from sklearn.datasets import load_digits

    data = load_digits()
    Xall, yall = data.data.astype(np.float64), data.target.astype(np.int64)
    classes = list(range(10)) if classes is None else [int(c) for c in classes]
    K = len(classes)
    if not 1 <= n or K < 1:
        raise ValueError(f"need n ≥ 1 and at least one class, got n={n}, classes={classes}")
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for k, c in enumerate(classes):
        quota = n // K + (1 if k < n % K else 0)
        idx = np.flatnonzero(yall == c)
        if quota > len(idx):
            raise ValueError(f"class {c} has {len(idx)} samples, {quota} asked for")
        rows.append(rng.permutation(idx)[:quota])
        labels.append(np.full(quota, k, np.int64))
    rows = np.concatenate(rows)
    X = Xall[rows]
    mu, sd = X.mean(0), X.std(0)
    X = (X - mu) / np.where(sd > 0, sd, 1.0)
    return X, np.concatenate(labels)

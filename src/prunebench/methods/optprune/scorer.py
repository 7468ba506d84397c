"""Optimization-based dataset pruning (Yang et al., ICLR 2023, "Dataset Pruning:
Reducing Training Data by Examining Generalization Influence", arXiv 2205.09329).

Not a per-sample ranking: the method chooses the *removed set* by a discrete
program over per-sample parameter influences ``I_i = −H⁻¹∇L(z_i)/n`` (§3;
:mod:`prunebench.methods.optprune.influence`), so it is registered with ``kind="solver"``
and writes its subsets itself (:func:`solve_subsets`, program 2 = fixed budget per ratio;
:func:`prunebench.methods.optprune.epsilon.epsilon_study`, program 1 = largest ε-redundant set;
:mod:`prunebench.methods.optprune.solvers`).

The registered scorer function returns the per-sample influence norm ``‖I_i‖``
(the predicted parameter change of removing ``z_i`` alone) for the score file that
the correlation figures read. ``keep="high"`` there means: a sample whose removal
alone would move the parameters most is the one a per-sample ranking would keep
(small-influence samples are the redundant ones). The solver's subsets do *not*
follow this ranking: it removes sets whose influences cancel, which can include
individually influential samples.

Parameters (defaults in the registry entry):

* ``hessian`` — ``"last_layer"`` (exact closed form on the penultimate features;
  default) or ``"full"`` (whole network by HVP + CG / dense; small models only).
* ``damping`` — λ added to the Hessian (on top of the weight decay).
* ``weight_decay`` — ``"recipe"`` (the surrogate recipe's weight decay; it is part
  of the training objective, so of ``H`` and of each sample's gradient ``g_i + wd·θ̂``)
  or a number.
* ``norm`` — norm of the summed influence: ``"l2"`` (the paper's ε-redundancy,
  default), ``"linf"``, ``"l1"``.
* ``program`` — ``"budget"`` for the per-ratio subsets (program 2);
  ``epsilon_study`` runs program 1.
* ``epsilon`` / ``epsilon_unit`` — ε for program 1; unit ``"abs"`` or ``"median"``
  (multiples of the median single-sample ``‖I_i‖``, scale-free across datasets).
* ``node_limit`` (branch-and-bound nodes per MILP) and ``max_cuts``: the deterministic budget
  (same subsets on every run); ``time_limit`` (s per program): a safety net — when it fires,
  ``time_limited`` is true in the subset's meta and the answer depends on the machine's speed,
  ``max_exact_n`` (MILP for n up to this; greedy+swap above), ``max_swaps``,
  ``max_cuts`` (ℓ2 cutting-plane rounds), ``stratified`` (per-class removal quotas),
  ``dtype`` (``"auto"``: float64 up to 2·10⁷ influence entries, float32 above).
"""

from __future__ import annotations

import time

import numpy as np

from ...scorers.base import Protocol, Solver, register_scorer

PAPER = "Yang et al., ICLR 2023, arXiv 2205.09329"

DEFAULTS = dict(
    hessian="last_layer",
    damping=0.01,
    weight_decay="recipe",
    norm="l2",
    program="budget",
    epsilon=None,
    epsilon_unit="abs",
    time_limit=600.0,
    node_limit=2000,
    max_exact_n=1000,
    max_swaps=2000,
    max_cuts=200,
    stratified=False,
    dtype="auto",
)


def params_with_defaults(params: dict) -> dict:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown optprune parameters {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **params}


def _weight_decay(ctx, value) -> float:
    if value == "recipe":
        return float(ctx.surrogate.meta.get("recipe", {}).get("weight_decay", 0.0))
    return float(value)


def compute_influence(ctx, hessian: str = "last_layer", damping: float = 0.01, weight_decay="recipe",
                      dtype: str = "auto", **_) -> tuple[np.ndarray, dict]:
    """Influence vectors ``I_i`` (rows) of the final surrogate model on the training set, with
    the training labels ``ctx.y`` (Yang et al. 2023 §3). Returns ``(I, info)``."""
    import torch

    from ...models import head
    from . import influence

    t0 = time.perf_counter()
    run = ctx.surrogate
    wd = _weight_decay(ctx, weight_decay)
    y = np.asarray(ctx.y, np.int64)
    model = run.load_model(device=ctx.device).eval()
    if hessian == "last_layer":
        feats = np.asarray(ctx.features(run), np.float64)
        lin = head(model)
        if lin.bias is None:
            raise ValueError("last-layer influence needs a head with a bias")
        W = lin.weight.detach().cpu().double().numpy()
        b = lin.bias.detach().cpu().double().numpy()
        logits = feats @ W.T + b
        P = W.shape[0] * (W.shape[1] + 1)
        dt = np.float64 if (dtype == "float64" or (dtype == "auto" and len(y) * P <= 2e7)) else np.float32
        Iv, info = influence.last_layer_influence(feats, logits, y, damping=damping, weight_decay=wd, head=(W, b),
                                                 dtype=dt, chunk=max(1024, ctx.chunk_size))
    elif hessian == "full":
        from torch.func import functional_call

        from ...train import batch_to_tensor

        names = [k for k, _ in model.named_parameters()]
        shapes = [p.shape for _, p in model.named_parameters()]
        theta = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()]).double()
        model = model.double()
        buffers = {k: v for k, v in model.named_buffers()}
        sizes = [int(np.prod(s)) for s in shapes]
        if len(y) * theta.numel() > 2e8:
            raise ValueError(f"full-network influence needs an (n, P) = ({len(y)}, {theta.numel()}) gradient "
                             "matrix; use hessian='last_layer' for models/datasets this size")

        def logits_fn(th, xb):
            parts = torch.split(th, sizes)
            params = {k: t.reshape(s) for k, t, s in zip(names, parts, shapes)}
            return functional_call(model, {**params, **buffers}, (xb,))

        x = batch_to_tensor(ctx.x, run.norm, "cpu").double()
        Iv, info = influence.full_influence(logits_fn, theta, x, y, damping=damping, weight_decay=wd)
    else:
        raise ValueError(f"unknown hessian {hessian!r}: use last_layer or full")
    info["timing"] = {**info.get("timing", {}), "influence_s": time.perf_counter() - t0}
    return Iv, info


def _influence_norms(influence: tuple[np.ndarray, dict], norm: str = "l2") -> np.ndarray:
    """‖I_i‖ in ``norm`` (the program's norm; l2 by default)."""
    from .programs import vec_norm

    Iv = influence[0]
    if norm != "l2":
        return np.array([vec_norm(v, norm) for v in Iv], np.float64)
    I = Iv.astype(np.float64)
    return np.sqrt(np.einsum("ij,ij->i", I, I))


def _solve(ctx, ratios, influence, **params) -> dict[float, tuple[np.ndarray, dict]]:
    return solve_subsets(ctx, ratios, influence=influence, **params)


@register_scorer("optprune", keep="high", paper=PAPER, kind="solver",
                 solver=Solver(prepare=lambda ctx, **p: compute_influence(ctx, **params_with_defaults(p)),
                               scores=lambda influence, **_: _influence_norms(influence), solve=_solve,
                               score_name="influence norm ||I_i||_2"),
                 studies=("epsilon", "optprune_check"),
                 protocol=Protocol("no release: the paper publishes no code (Yang et al., ICLR 2023)",
                                   selection="solver", view="final model (influence)"), **DEFAULTS)
def optprune_scores(ctx, **params) -> np.ndarray:
    """Optimization-based pruning (Yang et al. 2023): per-sample influence norm ‖I_i‖ (the solver writes the subsets)."""
    p = params_with_defaults(params)
    return _influence_norms(compute_influence(ctx, **p), p["norm"])


def solve_subsets(ctx, ratios, influence=None, **params) -> dict[float, tuple[np.ndarray, dict]]:
    """Program 2 (fixed budget, Yang et al. 2023 §3) for every pruning ratio: remove
    ``m = n_removed(n, ratio)`` samples minimising ``‖Σ_{i∈W} I_i‖``. The influence is computed
    once (or passed as ``influence=(I, info)``). Ratio 0 keeps everything.

    Returns ``{ratio: (kept indices sorted int64, meta)}``. ``meta`` records the solver,
    status, objective (predicted ‖Δθ‖ of the removal), bound, gap, the influence settings;
    ``meta["timing"]`` is the only machine-dependent key (write it to a ``*.timing.json``
    sidecar, not into a contract file)."""
    from ...select import n_removed
    from .solvers import solve_budget

    p = params_with_defaults(params)
    if p["program"] != "budget":
        raise ValueError("solve_subsets runs the fixed-budget program; use epsilon_study for program 1")
    Iv, info = influence if influence is not None else compute_influence(ctx, **p)
    n = len(Iv)
    y = np.asarray(ctx.y)
    out = {}
    for ratio in ratios:
        m = n_removed(n, float(ratio))
        removed, meta = solve_budget(Iv, m, norm=p["norm"], time_limit=p["time_limit"], node_limit=p["node_limit"],
                                     max_exact_n=p["max_exact_n"], groups=y, stratified=bool(p["stratified"]),
                                     max_swaps=p["max_swaps"], max_cuts=p["max_cuts"], seed=ctx.seed)
        kept = np.setdiff1d(np.arange(n, dtype=np.int64), removed).astype(np.int64)
        meta = {**meta, "ratio": float(ratio), "kept": int(len(kept)),
                "influence": {k: v for k, v in info.items() if k != "timing"},
                "timing": {**info.get("timing", {}), **meta.get("timing", {})}}
        if len(kept) != n - m:
            raise AssertionError(f"ratio {ratio}: kept {len(kept)}, expected {n - m}")
        out[float(ratio)] = (kept, meta)
    return out

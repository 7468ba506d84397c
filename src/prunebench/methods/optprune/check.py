"""Ground truth for optimization-based pruning (Yang et al., ICLR 2023, arXiv 2205.09329, §3):
is the additive influence estimate of the parameter change of removing a *set* of samples,
``θ̂_{−W} − θ̂ ≈ −Σ_{i∈W} I_i`` with ``I_i = −H⁻¹∇L(z_i)/n``, close to the change measured by
actually retraining without ``W``? And does program 1 (the largest set with predicted change
≤ ε) keep the *actual* change within ε?

Set-up (the shared tiny exact harness :mod:`prunebench.exact`): a stratified subset of the
8×8 digits, full-batch GD on ``J(θ) = Σ w_i ℓ_i / Σ w_i + (wd/2)‖θ‖²`` to near convergence
(the gradient norm is recorded), float64.

* ``logreg`` — multinomial logistic regression: convex, the last-layer Hessian *is* the
  full Hessian; the closed form and the HVP path are both run and must agree.
* ``mlp`` — one tanh hidden layer: the ``full`` influence (every parameter, exact Hessian)
  against the whole retrained parameter vector, and the ``last_layer`` approximation (hidden
  features frozen) against the retrained output layer.

Retraining without ``W`` sets the weights of ``W`` to 0 (the harness renormalises the mean
over the kept samples) and warm-starts from ``θ̂`` (same optimum for the convex model; the
same basin for the MLP, which is what the influence approximation describes). The paper's
estimate keeps the ``1/n`` weighting; under the renormalised objective the first-order change
is ``n/(n−m)`` times larger, reported as ``pred_renorm``.

:func:`run` returns a dict (``summary`` + pandas ``sets`` table) and, with ``out_dir``,
writes ``optprune_check.csv``, ``optprune_check.json`` and ``optprune_check.{pdf,png}``;
``prunebench analyze optprune_check`` (:func:`optprune_check`) writes them to the paths the
workflow names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...studies.registry import figure, register_study, scorers_with_study, table

ROW_KEYS = ("model", "variant", "kind", "m", "epsilon", "pred_norm", "pred_renorm_norm", "actual_norm", "cosine",
            "rel_err", "rel_err_renorm", "retrain_grad_norm")


def _cm_to_logreg_perm(d: int, K: int) -> np.ndarray:
    """Index map: harness flat layout ``[W (d,K) row-major, b (K)]`` ← class-major ``[W|b]``:
    ``v_harness = v_classmajor[perm]``."""
    D = d + 1
    perm = np.empty(K * D, np.int64)
    for j in range(d):
        for k in range(K):
            perm[j * K + k] = k * D + j
    for k in range(K):
        perm[d * K + k] = k * D + d
    return perm


def _cos(a, b) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan")


def _pearson(a, b) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 else float("nan")


def _influences(model, X, y, K, theta, wd, hidden, variants=("last_layer", "full")):
    """Influence matrices for the model: ``{variant: (I (n,P) in harness layout of the compared
    parameters, slice of the flat θ they refer to)}``."""
    import torch

    from ... import exact as ex
    from . import influence

    n, d = X.shape
    out = {}
    flat = ex.flat(theta).numpy()
    if model == "logreg":
        W, b = (p.numpy() for p in theta)
        logits = X @ W + b
        I_ll, _ = influence.last_layer_influence(X, logits, y, damping=0.0, weight_decay=wd, head=(W.T, b))
        out["last_layer"] = (I_ll[:, _cm_to_logreg_perm(d, K)], slice(0, flat.size))
    else:
        W1, b1, W2, b2 = (p.numpy() for p in theta)
        Hf = np.tanh(X @ W1 + b1) if model == "mlp" else np.maximum(X @ W1 + b1, 0)
        logits = Hf @ W2 + b2
        I_ll, _ = influence.last_layer_influence(Hf, logits, y, damping=0.0, weight_decay=wd, head=(W2.T, b2))
        start = W1.size + b1.size
        out["last_layer"] = (I_ll[:, _cm_to_logreg_perm(hidden, K)], slice(start, flat.size))
    if "full" not in variants:
        return out
    like = [p.detach() for p in theta]

    def logits_fn(th, xb):
        return ex.forward(ex.unflat(th, like), xb, model)

    I_full, info = influence.full_influence(logits_fn, torch.as_tensor(flat), torch.as_tensor(X), y, damping=0.0,
                                            weight_decay=wd)
    out["full"] = (I_full, slice(0, flat.size))
    return out


def run(out_dir=None, n: int = 120, seed: int = 0, models=("logreg", "mlp"), hidden: int = 8,
        weight_decay: float = 1e-2, lr: float = 1.0, steps: int = 4000, retrain_steps: int = 1500,
        set_fracs=(0.02, 0.05, 0.1, 0.2), sets_per_frac: int = 12, epsilon_mults=(2.0, 5.0, 10.0, 20.0),
        max_removed_frac: float = 0.5, budget_fracs=(0.1, 0.2), time_limit: float = 600.0, max_exact_n: int = 1000,
        variants=("last_layer", "full"), node_limit: int = 500, max_cuts: int = 30) -> dict:
    """Predicted vs actual parameter change of removing sets (Yang et al. 2023 §3) on the
    convex (``logreg``) and a small non-convex (``mlp``) model; program 1's ε check (ε in
    multiples of the median single-sample ‖I_i‖, removals capped at ``max_removed_frac·n`` since
    the uncapped program removes almost everything, see
    :func:`prunebench.methods.optprune.solvers.solve_epsilon`); program 2's set vs random sets of the same
    size. For ``logreg`` also one exact Newton step on the retraining objective (Hessian of the
    kept samples) — the part of the error due to the Hessian shift that the influence function
    ignores. The MILPs run on a deterministic budget (``node_limit`` nodes, ``max_cuts`` ℓ2 rounds);
    ``time_limit`` is only a safety net. Returns ``{"summary": dict, "sets": DataFrame}``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(out_dir, n, seed, models, hidden, weight_decay, lr, steps, retrain_steps, set_fracs,
                    sets_per_frac, epsilon_mults, max_removed_frac, budget_fracs, time_limit, max_exact_n, variants,
                    node_limit, max_cuts)
    finally:
        torch.set_num_threads(threads)


class _Model:
    """One trained tiny model of the check: θ̂, its influences, and cached retrains."""

    def __init__(self, model, X, y, K, hidden, weight_decay, lr, steps, retrain_steps, seed, variants):
        from ... import exact as ex

        self.ex, self.model, self.X, self.y, self.K = ex, model, X, y, K
        self.n = len(y)
        self.kw = dict(model=model, lr=lr, weight_decay=weight_decay, hidden=hidden, seed=seed)
        self.wd, self.retrain_steps = weight_decay, retrain_steps
        self.theta = ex.train(X, y, K, steps=steps, **self.kw)
        self.grad_norm = float(ex.objective_grad(self.theta, X, y, model=model, weight_decay=weight_decay).norm())
        self.flat0 = ex.flat(self.theta).numpy()
        self.infl = _influences(model, X, y, K, self.theta, weight_decay, hidden, variants)
        self.cache: dict[tuple, tuple[np.ndarray, float]] = {}

    def retrain(self, removed) -> tuple[np.ndarray, float]:
        """``θ̂_{−W} − θ̂`` (all parameters, harness layout) and the final gradient norm."""
        key = tuple(int(i) for i in np.sort(removed))
        if key not in self.cache:
            ex = self.ex
            w = np.ones(self.n)
            w[list(key)] = 0.0
            th = ex.train(self.X, self.y, self.K, weights=w, steps=self.retrain_steps, init=self.theta, **self.kw)
            gn = float(ex.objective_grad(th, self.X, self.y, weights=w, model=self.model,
                                         weight_decay=self.wd).norm())
            self.cache[key] = (ex.flat(th).numpy() - self.flat0, gn)
        return self.cache[key]

    def newton(self, removed) -> np.ndarray:
        """One Newton step on the retraining objective J_K from θ̂, exact Hessian of the kept
        samples (logreg only; class-major closed form, permuted to the harness layout)."""
        from . import influence

        W, b = (p.numpy() for p in self.theta)
        keep = np.setdiff1d(np.arange(self.n), removed)
        logits = self.X @ W + b
        H = influence.last_layer_hessian(self.X[keep], logits[keep], damping=self.wd)
        G = influence.last_layer_grads(self.X[removed], logits[removed], self.y[removed])
        grad = -(G + self.wd * influence.from_linear_layout(W.T, b)).sum(0) / len(keep)
        return -np.linalg.solve(H, grad)[_cm_to_logreg_perm(self.X.shape[1], self.K)]

    def record(self, kind, removed, variant, eps=float("nan")) -> dict:
        """One row: predicted (−Σ_W I_i) vs actual change for the removed set."""
        from .programs import summed_influence

        Iv, sl = self.infl[variant]
        n, m = self.n, len(removed)
        pred = -summed_influence(Iv, removed)
        pn = float(np.linalg.norm(pred))
        row = {"model": self.model, "variant": variant, "kind": kind, "m": m, "epsilon": eps, "pred_norm": pn}
        if m >= n:  # nothing left to retrain on
            return row
        act_full, gn = self.retrain(removed)
        act = act_full[sl]
        renorm = n / (n - m)
        an = float(np.linalg.norm(act))
        row.update({"pred_renorm_norm": pn * renorm, "actual_norm": an, "cosine": _cos(pred, act),
                    "rel_err": float(np.linalg.norm(pred - act) / an) if an > 0 else float("nan"),
                    "rel_err_renorm": float(np.linalg.norm(pred * renorm - act) / an) if an > 0 else float("nan"),
                    "retrain_grad_norm": gn})
        if self.model == "logreg":
            nt = self.newton(np.asarray(removed))
            row.update({"newton_norm": float(np.linalg.norm(nt)), "newton_cosine": _cos(nt, act),
                        "newton_rel_err": float(np.linalg.norm(nt - act) / an) if an > 0 else float("nan")})
        return row


def _run(out_dir, n, seed, models, hidden, weight_decay, lr, steps, retrain_steps, set_fracs, sets_per_frac,
         epsilon_mults, max_removed_frac, budget_fracs, time_limit, max_exact_n, variants, node_limit,
         max_cuts) -> dict:
    import pandas as pd

    from ... import exact as ex
    from . import solvers as op

    X, y = ex.tiny_digits(n, seed)
    K = int(y.max()) + 1
    rng = np.random.default_rng([seed, 9329])
    rows, summary = [], {"n": n, "seed": seed, "weight_decay": weight_decay, "steps": steps,
                         "retrain_steps": retrain_steps, "paper": "Yang et al., ICLR 2023, arXiv 2205.09329"}
    for model in models:
        mm = _Model(model, X, y, K, hidden, weight_decay, lr, steps, retrain_steps, seed, variants)
        ms = summary.setdefault(model, {"grad_norm_full_data": mm.grad_norm, "P": int(mm.flat0.size)})
        if model == "logreg" and "full" in mm.infl:
            ms["last_layer_vs_full_max_abs_diff"] = float(np.abs(mm.infl["last_layer"][0]
                                                                 - mm.infl["full"][0]).max())
        random_sets = [np.sort(rng.choice(n, max(1, int(round(f * n))), replace=False))
                       for f in set_fracs for _ in range(sets_per_frac)]
        for variant in mm.infl:
            rows.extend(mm.record("random", W, variant) for W in random_sets)
        for variant in mm.infl:
            Iv = mm.infl[variant][0]
            med = float(np.median(np.linalg.norm(Iv, axis=1)))
            for mult in epsilon_mults:
                removed, meta = op.solve_epsilon(Iv, mult * med, time_limit=time_limit, max_exact_n=max_exact_n,
                                                 node_limit=node_limit, max_cuts=max_cuts,
                                                 max_removed=int(max_removed_frac * n))
                rows.append({**mm.record("epsilon", removed, variant, mult * med), "solver": meta["solver"],
                             "status": meta["status"], "eps_mult": mult,
                             "remove_all_feasible": meta["remove_all_feasible"]})
            for f in budget_fracs:
                m = int(round(f * n))
                removed, meta = op.solve_budget(Iv, m, time_limit=time_limit, max_exact_n=max_exact_n, seed=seed,
                                                node_limit=node_limit, max_cuts=max_cuts)
                rows.append({**mm.record("budget", removed, variant), "solver": meta["solver"],
                             "status": meta["status"]})
    df = pd.DataFrame(rows)
    for model in models:
        for variant in df[df.model == model].variant.unique():
            d = df[(df.model == model) & (df.variant == variant)]
            r = d[d.kind == "random"]
            per_m = {int(m): _spearman(g.pred_norm, g.actual_norm) for m, g in r.groupby("m")}
            e = d[d.kind == "epsilon"]
            b = d[d.kind == "budget"]
            budget_vs_random = {}
            for _, row in b.iterrows():
                same = r[r.m == row.m]
                if len(same):
                    budget_vs_random[int(row.m)] = {"solver_actual": float(row.actual_norm),
                                                    "random_actual_median": float(same.actual_norm.median())}
            summary[model][variant] = {
                "sets": int(len(r)),
                "pearson_norm_all_sizes": _pearson(r.pred_norm, r.actual_norm),
                "spearman_norm_all_sizes": _spearman(r.pred_norm, r.actual_norm),
                "spearman_norm_per_size": per_m,
                "median_cosine": float(r.cosine.median()),
                "median_rel_err": float(r.rel_err.median()),
                "median_rel_err_renorm": float(r.rel_err_renorm.median()),
                "median_actual_over_pred": float((r.actual_norm / r.pred_norm).median()),
                "epsilon_respected": [bool(v) for v in (e.actual_norm <= e.epsilon)],
                "epsilon_actual_over_eps": [float(v) for v in (e.actual_norm / e.epsilon)],
                "epsilon_removed": [int(v) for v in e.m],
                "budget_vs_random": budget_vs_random,
                "max_retrain_grad_norm": float(d.retrain_grad_norm.max()),
            }
            if "newton_norm" in r and r.newton_norm.notna().any():
                summary[model][variant].update({
                    "newton_median_cosine": float(r.newton_cosine.median()),
                    "newton_median_rel_err": float(r.newton_rel_err.median()),
                    "newton_spearman_norm_all_sizes": _spearman(r.newton_norm, r.actual_norm)})
    if out_dir is not None:
        write_outputs(out_dir, df, summary)
    return {"summary": summary, "sets": df}


def write_outputs(out_dir, df, summary) -> None:
    """``optprune_check.csv`` (one row per removed set), ``.json`` (summary) and the figure."""
    from ... import io

    out = Path(out_dir)
    io.write_dataframe(out / "optprune_check.csv", df)
    io.write_json(out / "optprune_check.json", summary)
    plot(df, out / "optprune_check.pdf", out / "optprune_check.png")


def plot(df, out_pdf, out_png) -> None:
    """Predicted vs actual ‖Δθ‖ per model/variant (random sets by size, program-1 sets with ε)."""
    from ...plots.style import new_figure, save_figure

    panels = [(m, v) for m in df.model.unique() for v in df[df.model == m].variant.unique()]
    fig, axes = new_figure(len(panels), ncols=len(panels), panel_size=(3.4, 3.1))
    for ax, (m, v) in zip(axes, panels):
        d = df[(df.model == m) & (df.variant == v)]
        r = d[d.kind == "random"]
        sc = ax.scatter(r.pred_norm, r.actual_norm, c=r.m, s=12, cmap="viridis", label="random sets")
        e = d[d.kind == "epsilon"]
        ax.scatter(e.pred_norm, e.actual_norm, marker="x", color="#d62728", s=30, label="program 1 (ε)")
        ax.scatter(e.epsilon, e.epsilon, marker="_", color="#d62728", s=80)
        lim = float(np.nanmax(np.r_[d.pred_norm, d.actual_norm])) * 1.05
        ax.plot([0, lim], [0, lim], color="#8c8c8c", lw=0.8)
        ax.set_xlabel("predicted ‖Δθ‖ (Σ influence)")
        ax.set_ylabel("actual ‖Δθ‖ (retrained)")
        ax.set_title(f"{m} / {v}", fontsize=9)
        fig.colorbar(sc, ax=ax, label="|W|")
    axes[0].legend(fontsize=7, loc="upper left")
    save_figure(fig, out_pdf, out_png)


def optprune_check(inputs, out, **options):
    """Influence vs actual retraining on a tiny convex problem (and a tiny MLP)."""
    from ... import io

    res = run(**options)
    io.write_dataframe(out["table"], res["sets"])
    io.write_json(out["json"], res["summary"])
    plot(res["sets"], out["pdf"], out["png"])


STUDY = register_study(
    "optprune_check", optprune_check,
    outputs=[table("table", "optprune_check.csv"), table("json", "optprune_check.json"),
             figure("pdf", "optprune_check.pdf", category="Optimization-based pruning", caption='Ground truth for the influence estimate: on logistic regression over a small digits subset (trained to\nconvergence), the predicted parameter change of removing a set (Σ of influence vectors) against the actual\nchange after retraining without it, for random sets, program-1 sets (with their ε) and program-2 sets.'),
             figure("png", "optprune_check.png")],
    options=lambda files, w=None: (files.cfg.get("studies") or {}).get(
        "optprune_check", {"n": 60, "models": ["logreg"], "sets_per_frac": 6, "steps": 2000}),
    targets=lambda files: [files.figure("optprune_check.pdf")] if scorers_with_study(files, "optprune_check") else [],
    inputs_arg="none", local=False, env="torch", benchmark=True,
)

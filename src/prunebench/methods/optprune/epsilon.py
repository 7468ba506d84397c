"""Program 1 of optimization-based pruning (Yang et al., ICLR 2023, arXiv 2205.09329, §3),
generalization-guaranteed pruning: for a bound ε on the predicted parameter change, the largest
removed set ``W`` with ``‖Σ_{i∈W} I_i‖ ≤ ε``.

* :func:`epsilon_study` — the removed set of every ε (in ``epsilon_unit``) for one scoring context;
* :func:`epsilon` — ``prunebench analyze epsilon``: ε in multiples of the median single-sample
  influence norm, removals capped at ``max_removed_frac·n``, ``target`` retrained on what is kept
  → ε, fraction pruned, test accuracy (table and figure).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import paths
from ...studies.registry import Output, figure, register_study, scorers_with_study, table
from .scorer import DEFAULTS, compute_influence, params_with_defaults


def _resolve_epsilon(Iv: np.ndarray, eps: float, unit: str, norm: str) -> float:
    if unit == "abs":
        return float(eps)
    if unit == "median":
        from .programs import vec_norm

        return float(eps) * float(np.median([vec_norm(v, norm) for v in Iv]))
    raise ValueError(f"unknown epsilon_unit {unit!r}: use abs or median")


def epsilon_study(ctx, epsilons, influence=None, **params) -> list[tuple[float, np.ndarray, dict]]:
    """Program 1 (generalization-guaranteed pruning, Yang et al. 2023 §3) for every ε: the
    largest removed set with ``‖Σ_{i∈W} I_i‖ ≤ ε`` (ε in ``epsilon_unit``). Returns
    ``[(ε as given, kept indices sorted, meta)]``; ``meta["epsilon"]`` is the absolute ε,
    ``meta["pruning_ratio"]`` the fraction removed."""
    from .solvers import solve_epsilon

    p = params_with_defaults(params)
    Iv, info = influence if influence is not None else compute_influence(ctx, **p)
    n = len(Iv)
    out = []
    for eps in epsilons:
        e_abs = _resolve_epsilon(Iv, eps, p["epsilon_unit"], p["norm"])
        removed, meta = solve_epsilon(Iv, e_abs, norm=p["norm"], time_limit=p["time_limit"],
                                      node_limit=p["node_limit"], max_exact_n=p["max_exact_n"],
                                      max_swaps=p["max_swaps"], max_cuts=p["max_cuts"])
        kept = np.setdiff1d(np.arange(n, dtype=np.int64), removed).astype(np.int64)
        meta = {**meta, "epsilon_given": float(eps), "epsilon_unit": p["epsilon_unit"],
                "pruning_ratio": float(len(removed) / n), "kept": int(len(kept)),
                "influence": {k: v for k, v in info.items() if k != "timing"},
                "timing": {**info.get("timing", {}), **meta.get("timing", {})}}
        out.append((float(eps), kept, meta))
    return out


def epsilon(inputs, out, data: str, labels: str, surrogates: list, seeds: list, target: str, recipe: dict,
            epsilons: list, method_params: dict | None = None, model_kw: dict | None = None,
            device: str = "cpu", threads: int = 1, max_removed_frac: float = 0.9):
    """Optimization-based pruning, program 1 (Yang et al. 2023 §3): for each ε (in multiples of the
    median single-sample influence norm), the largest removed set whose predicted parameter change
    stays within ε; retrain ``target`` on what is kept → ε, fraction pruned, test accuracy."""
    import pandas as pd

    from ... import io
    from ...retrain import retrain_many
    from ...scorers import ScoreContext
    from ...select import save_subset
    from ...train import set_determinism
    from .solvers import solve_epsilon

    params = {**DEFAULTS, **(method_params or {})}
    root = Path(out["dir"])
    rows = []
    for seed, sur in zip(seeds, surrogates):
        set_determinism(seed, threads)
        ctx = ScoreContext(data, labels, [sur], seed=seed, device=device, threads=threads, progress=False)
        I, _ = compute_influence(ctx, **params)
        n = len(I)
        med = float(np.median(np.linalg.norm(I, axis=1)))
        for mult in epsilons:
            removed, meta = solve_epsilon(I, mult * med, norm=params["norm"], time_limit=params["time_limit"],
                                          max_exact_n=params["max_exact_n"], max_removed=int(max_removed_frac * n))
            kept = np.setdiff1d(np.arange(n), removed).astype(np.int64)
            sub = root / f"e{mult:g}" / f"seed{seed}.npy"
            save_subset(sub, kept, ctx.y, {"strategy": "epsilon", "epsilon_mult": mult})
            res = retrain_many(data, labels, [sub], [root / f"e{mult:g}" / f"seed{seed}.json"], target, recipe,
                               [seed], {"scorer": "optprune", "epsilon_mult": mult}, device=device, threads=threads,
                               model_kw=model_kw, progress=False)[0]
            rows.append({"seed": seed, "epsilon_mult": mult, "epsilon": mult * med, "n": n,
                         "n_removed": int(len(removed)), "fraction_pruned": len(removed) / n,
                         "solver": meta.get("solver"), "status": meta.get("status"),
                         "test_accuracy": res["test_accuracy"]})
    df = pd.DataFrame(rows).sort_values(["epsilon_mult", "seed"]).reset_index(drop=True)
    io.write_dataframe(out["table"], df)
    _plot_epsilon(df, out["pdf"], out["png"])


def _plot_epsilon(df, out_pdf, out_png):
    from ...plots.style import method_color, new_figure, save_figure

    fig, (ax1, ax2) = new_figure(2, ncols=2)
    g = df.groupby("epsilon_mult").agg(frac=("fraction_pruned", "mean"), acc=("test_accuracy", "mean"),
                                       acc_sd=("test_accuracy", "std")).reset_index()
    c = method_color("optprune")
    ax1.plot(g["epsilon_mult"], g["frac"], marker="o", color=c)
    ax1.set_xscale("log")
    ax1.set_xlabel("ε (× median single-sample ‖I_i‖)")
    ax1.set_ylabel("fraction of training set pruned")
    ax1.set_title("ε → fraction pruned")
    ax2.errorbar(g["frac"], g["acc"], yerr=g["acc_sd"].fillna(0), marker="o", color=c, capsize=3)
    for _, r in g.iterrows():
        ax2.annotate(f"ε={r['epsilon_mult']:g}", (r["frac"], r["acc"]), fontsize=7, xytext=(3, 3),
                     textcoords="offset points")
    ax2.set_xlabel("fraction pruned")
    ax2.set_ylabel("test accuracy (mean ± std over seeds)")
    ax2.set_title("generalization-guaranteed pruning")
    save_figure(fig, out_pdf, out_png)


_KEYS = "{dataset}_{noise}_{arch}_{scorer}"  # one study per (dataset, noise, arch, optprune scorer)


def _inputs(files, w) -> dict:
    here = dict(exp=w.exp, dataset=w.dataset, noise=w.noise, arch=w.arch)
    return {"train": paths.rule_path("data", "train.npz", dataset=w.dataset),
            "labels": paths.labels_path(w.exp, w.dataset, w.noise),
            "surrogates": [paths.rule_path("surrogate", "surrogate.json", s=s, **here) for s in files.seeds]}


def _options(files, w) -> dict:
    cfg = files.cfg
    recipe = (cfg.get("retrain") or {}).get("recipe") or cfg["surrogate"]["recipe"]
    return {"data": paths.rule_path("data", dataset=w.dataset),
            "labels": paths.labels_path(w.exp, w.dataset, w.noise),
            "surrogates": [paths.rule_path("surrogate", exp=w.exp, dataset=w.dataset, noise=w.noise, arch=w.arch, s=s)
                           for s in files.seeds],
            "seeds": files.seeds, "target": w.arch, "recipe": recipe,
            "model_kw": (cfg.get("models") or {}).get(w.arch, {}),
            "epsilons": (cfg.get("studies") or {}).get("epsilons", [2, 8, 32, 128]),
            "method_params": files.specs[w.scorer].params,
            "device": cfg.get("device", "cpu"), "threads": cfg.get("threads", 1)}


def _targets(files) -> list[str]:
    noise, arch = files.main_setting()
    return [files.figure(f"epsilon_{_KEYS.format(dataset=files.dataset, noise=noise, arch=arch, scorer=name)}.pdf")
            for name in scorers_with_study(files, "epsilon")]


STUDY = register_study(
    "epsilon", epsilon,
    outputs=[Output("dir", "epsilon", "dir"), table("table", f"epsilon_{_KEYS}.csv"),
             figure("pdf", f"epsilon_{_KEYS}.pdf", category="Optimization-based pruning", caption='Optimization-based pruning (Yang et al., ICLR 2023), program 1: for each ε (a multiple of the median\nsingle-sample influence norm) the largest removed set whose predicted parameter change ‖Σ I_i‖ stays within ε\n(solver: MILP for small n, greedy + swaps beyond), then retraining on what is kept. Left: fraction pruned\nagainst ε; right: test accuracy against the fraction pruned (mean ± std over seeds).'),
             figure("png", f"epsilon_{_KEYS}.png")],
    inputs=_inputs, options=_options, targets=_targets, inputs_arg="{input.labels}",
    local=False, env="torch", benchmark=True, rule_name="epsilon_study", log_name=f"epsilon_{_KEYS}",
)

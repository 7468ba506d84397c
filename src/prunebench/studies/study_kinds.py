"""The studies' analyses as ``prunebench analyze`` kinds (see runner.py)."""

from __future__ import annotations

from ..methods.moso import agreement as _agreement  # noqa: F401  (registers MoSo's agreement study)
from ..paths import parse
from ..plots import studies as P
from . import analyses as A
from . import budget as _budget  # noqa: F401  (registers the budget study's kind)
from . import convergence as _convergence  # noqa: F401  (registers the convergence check's kind)
from . import protocol as _protocol  # noqa: F401  (registers the protocol study's kind)
from .base import kind


@kind("noise_grid")
def noise_grid(inputs, out):
    """Accuracy vs ratio, one panel per label-noise setting."""
    P.plot_noise_grid(A.read_retrain(inputs[0]), out["pdf"], out["png"])


@kind("noisy_removed")
def noisy_removed(inputs, out):
    """Fraction of the flipped samples each method removes, against random removal."""
    parts = A.split_inputs(inputs)
    df = A.noisy_removed(parts["subset"], parts["labels"])
    A.write_table(df, out["table"])
    P.plot_noisy_removed(df, out["pdf"], out["png"])


@kind("crossarch")
def crossarch(inputs, out):
    """Accuracy gain over random per (scoring arch A, retraining arch B, ratio)."""
    df = A.crossarch_gain(A.read_retrain(inputs[0]))
    A.write_table(df, out["table"])
    P.plot_crossarch_heatmap(A.transfer_settings(df), out["pdf"], out["png"])


@kind("ablation")
def ablation(inputs, out, variants: dict | None = None, surrogate_variants: dict | None = None):
    """Hyper-parameter ablations (DynUnc J, MoSo T, ...): agreement with the default and accuracy.

    ``surrogate_variants``: ``{scorer: reference}`` for scorers that differ from their reference only
    in the surrogate they read (optimizer, partitions): family ``{reference}-surrogate``."""
    parts = A.split_inputs(inputs)
    retrain = A.read_retrain(parts["table"][0]) if parts["table"] else None
    sv = dict(surrogate_variants or {})
    names = sorted({parse(p, "scores")["scorer"] for p in parts["scores"]} - set(sv))
    fams = dict(variants or A.infer_variants(names))
    for name, ref in sorted(sv.items()):
        fams.setdefault(f"{ref}-surrogate", {})[name] = ref
    df = A.ablation_table(parts["scores"], retrain, fams)
    A.write_table(df, out["table"])
    P.plot_ablation(df, out["pdf"], out["png"])


@kind("stability")
def stability(inputs, out):
    """Rank correlation of each method's scores between surrogate seeds."""
    df = A.score_stability(A.split_inputs(inputs)["scores"])
    A.write_table(df, out["table"])
    P.plot_stability(df, out["pdf"], out["png"])


@kind("lossless")
def lossless(inputs, out, k_std: float = 1.0):
    """Largest ratio whose mean accuracy is within one std of full data, per method."""
    df = A.lossless_ratio(A.read_retrain(inputs[0]), k_std=k_std)
    A.write_table(df, out["table"])
    P.plot_lossless(df, out["pdf"], out["png"])


@kind("composition")
def composition(inputs, out):
    """Per-class composition of every subset (seed 0) and the most-kept / most-removed samples."""
    parts = A.split_inputs(inputs)
    df = A.class_composition(parts["subset"], parts["labels"][0])
    A.write_table(df, out["table"])
    P.plot_class_composition(df, out["pdf"], out["png"])
    data = [p for p in parts["npz"] if p.endswith("train.npz")][0]
    P.plot_sample_grid(parts["scores"], data, parts["labels"][0], out["grid_pdf"], out["grid_png"])


@kind("imbalance")
def imbalance(inputs, out):
    """Per-class view of pruning a long-tailed training set: tail / balanced accuracy, tail share kept."""
    df = A.imbalance_table(A.split_inputs(inputs)["retrain"])
    A.write_table(df, out["table"])
    P.plot_imbalance(df, out["pdf"], out["png"])


@kind("epsilon")
def epsilon(inputs, out, data: str, labels: str, surrogates: list, seeds: list, target: str, recipe: dict,
            epsilons: list, method_params: dict | None = None, model_kw: dict | None = None,
            device: str = "cpu", threads: int = 1, max_removed_frac: float = 0.9):
    """Optimization-based pruning, program 1 (Yang et al. 2023 §3): for each ε (in multiples of the
    median single-sample influence norm), the largest removed set whose predicted parameter change
    stays within ε; retrain ``target`` on what is kept → ε, fraction pruned, test accuracy."""
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from .. import io
    from ..retrain import retrain_many
    from ..scorers import ScoreContext
    from ..scorers.optprune import DEFAULTS, compute_influence
    from ..select import save_subset
    from ..select.optprune import solve_epsilon
    from ..train import set_determinism

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
    from ..plots.style import method_color, new_figure, save_figure

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


@kind("optprune_check")
def optprune_check(inputs, out, **options):
    """Influence vs actual retraining on a tiny convex problem (and a tiny MLP)."""
    from .. import io
    from . import optprune_check as oc

    res = oc.run(**options)
    io.write_dataframe(out["table"], res["sets"])
    io.write_json(out["json"], res["summary"])
    oc.plot(res["sets"], out["pdf"], out["png"])

"""How well does MoSo's first-order estimate agree with exact leave-one-out?

Tan et al. (NeurIPS 2023, arXiv 2310.14664) define the MoSo score as the
change of the risk on S∖z when z is left out of training and estimate
it to first order from lr-weighted gradient inner products at checkpoints
along training (Eq. 4). On tiny problems we can retrain exactly, so this study
compares, per sample:

* ``exact`` — :func:`~prunebench.methods.moso.scorer.moso_exact_tiny`: n + 1 full-batch
  GD trainings (same init, steps, lr), risk on S∖z_i (no weight decay).
* ``moso_Tall`` — the scorer's formula (:func:`~prunebench.methods.moso.scorer.moso_first_order_tiny`,
  the same :func:`moso_checkpoint_scores`/:func:`aggregate_checkpoints` the
  ``moso`` scorer uses) over every step of the training trajectory;
  ``moso_T{T}`` — over T checkpoints spread evenly (the scorer's default T=10);
  ``moso_release_Tall`` — the authors' released per-checkpoint expression;
  ``moso_renorm_Tall`` — our renormalised variant (first-order exact for one
  GD step on the mean loss); ``moso_noloo_Tall`` — ḡ instead of ∇L_{S∖i}.
  All are reported in loss units, ``(steps/N)·mean_t`` = ``Σ_t η_t/N · s_t``
  (Eq. 4's ``T/N`` factor), so they sit on the same axis as ``exact``.
* ``linearised`` — the ceiling of any first-order estimate: sample i's weight is
  moved to ``1 ∓ ε``, both models retrained, and the central difference of
  ``L(S∖z_i; ·)`` divided by ``2ε`` (the derivative at full weight, extrapolated
  linearly to removal, ε → 1).

Models: multinomial logistic regression (convex) and a one-hidden-layer tanh
MLP, on a seeded stratified subset of sklearn's digits (:func:`prunebench.exact.tiny_digits`).
Outputs: ``agreement.csv`` (per sample), ``agreement_summary.csv`` (Spearman
and Pearson of each approximation vs exact) and ``agreement.{pdf,png}``; as
``prunebench analyze agreement`` (:func:`agreement`), the paths the workflow names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import io
from ...studies.registry import figure, register_study, scorers_with_study, table

APPROX = ("moso_Tall", "moso_T{T}", "moso_release_Tall", "moso_renorm_Tall", "moso_noloo_Tall", "linearised")


def linearised_moso_tiny(X, y, num_classes: int, eps: float = 1e-4, **kw) -> np.ndarray:
    """First-order (in the sample weight) change of ``L(S∖z_i; w)``, extrapolated to
    removal: ``[L(S∖z_i; w(1−ε·e_i)) − L(S∖z_i; w(1+ε·e_i))] / (2ε)`` with ``w(·)``
    retrained by the same GD (``kw`` as :func:`moso_exact_tiny`)."""
    from .scorer import risk_without, tiny_losses

    n = len(np.asarray(y))
    eye = np.eye(n)
    weights = np.vstack([1.0 - eps * eye, 1.0 + eps * eye])
    L = tiny_losses(X, y, num_classes, weights, **kw)
    return np.array([(risk_without(L[i], i) - risk_without(L[n + i], i)) / (2 * eps) for i in range(n)])


def agreement_table(X, y, num_classes: int, model: str, steps: int, lr: float, weight_decay: float, hidden: int,
                    seed: int, T: int, eps: float) -> dict[str, np.ndarray]:
    """Per-sample columns for one model: exact, the first-order variants, linearised."""
    from ... import exact
    from .scorer import moso_exact_tiny, moso_first_order_tiny, tiny_checkpoint_stats

    kw = dict(model=model, steps=steps, lr=lr, weight_decay=weight_decay, hidden=hidden, seed=seed)
    n = len(y)
    traj = exact.trajectory(X, y, num_classes, None, model, steps, lr, weight_decay, hidden, seed)
    stats = tiny_checkpoint_stats(traj, X, y, model)  # every step: shared by the variants below
    unit = steps / n  # Eq. 4: M ≈ (T/N)·E_t[...], T = number of GD steps
    fo = {"moso_Tall": {}, f"moso_T{T}": {"T": T}, "moso_release_Tall": {"formula": "release"},
          "moso_renorm_Tall": {"formula": "renormalised"}, "moso_noloo_Tall": {"loo_correction": False}}
    cols = {"exact": moso_exact_tiny(X, y, num_classes, **kw)}
    for name, opt in fo.items():
        cols[name] = unit * moso_first_order_tiny(X, y, num_classes, stats=stats, **opt)
    cols["linearised"] = linearised_moso_tiny(X, y, num_classes, eps=eps, **kw)
    return cols


def correlations(exact: np.ndarray, approx: np.ndarray) -> tuple[float, float]:
    """(Spearman, Pearson) of ``approx`` against ``exact``."""
    from scipy.stats import pearsonr, spearmanr

    return float(spearmanr(exact, approx)[0]), float(pearsonr(exact, approx)[0])


def run_agreement(out_dir, n: int = 40, steps: int = 200, seed: int = 0, lr: float = 0.5,
                  weight_decay: float = 1e-3, hidden: int = 16, T: int = 10, eps: float = 1e-4,
                  models=("logreg", "mlp"), classes=None, figure: bool = True):
    """Run the study and write ``agreement.csv``, ``agreement_summary.csv`` and
    ``agreement.{pdf,png}`` under ``out_dir``. Returns the summary DataFrame.

    Data: ``tiny_digits(n, seed, classes)``; every model is trained by full-batch
    GD for ``steps`` steps at constant ``lr`` with ``weight_decay`` from the seeded
    init (logreg: zeros; MLP: ``hidden`` tanh units)."""
    import pandas as pd

    from ... import exact

    out = Path(out_dir)
    X, y = exact.tiny_digits(n, seed=seed, classes=classes)
    K = int(y.max()) + 1
    rows, summary = [], []
    for model in models:
        cols = agreement_table(X, y, K, model, steps, lr, weight_decay, hidden, seed, T, eps)
        for i in range(n):
            rows.append({"model": model, "index": i, "label": int(y[i]), **{k: v[i] for k, v in cols.items()}})
        for name, v in cols.items():
            if name == "exact":
                continue
            rho, r = correlations(cols["exact"], v)
            summary.append({"model": model, "approximation": name, "spearman": rho, "pearson": r, "n": n,
                            "steps": steps, "lr": lr, "weight_decay": weight_decay, "seed": seed})
    df, sm = pd.DataFrame(rows), pd.DataFrame(summary)
    io.write_dataframe(out / "agreement.csv", df)
    io.write_dataframe(out / "agreement_summary.csv", sm)
    if figure:
        plot_agreement(df, sm, out / "agreement", T)
    return sm


def plot_agreement(df, sm, stem: Path, T: int = 10) -> None:
    """Scatter of exact MoSo (x) vs each approximation (y), one row per model."""
    from ...plots.style import new_figure, save_figure

    shown = ["moso_Tall", f"moso_T{T}", "linearised"]
    titles = {"moso_Tall": "first-order MoSo, every step", f"moso_T{T}": f"first-order MoSo, T={T}",
              "linearised": "linearised (ε → 1)"}
    models = list(dict.fromkeys(df["model"]))
    fig, axes = new_figure(len(models) * len(shown), ncols=len(shown), panel_size=(3.2, 3.0))
    for r, model in enumerate(models):
        d = df[df["model"] == model]
        for c, name in enumerate(shown):
            ax = axes[r * len(shown) + c]
            ax.scatter(d["exact"], d[name], s=12, color="C0")
            row = sm[(sm["model"] == model) & (sm["approximation"] == name)].iloc[0]
            ax.set_title(f"{model}: {titles[name]}\nSpearman {row.spearman:.2f}, Pearson {row.pearson:.2f}",
                         fontsize=8)
            ax.axhline(0, color="0.8", lw=0.5)
            ax.axvline(0, color="0.8", lw=0.5)
            ax.tick_params(labelsize=7)
            ax.ticklabel_format(style="sci", scilimits=(-2, 2))
            if r == len(models) - 1:
                ax.set_xlabel("exact MoSo (LOO retraining)", fontsize=8)
            if c == 0:
                ax.set_ylabel("approximation (loss units)", fontsize=8)
    save_figure(fig, stem.with_suffix(".pdf"), stem.with_suffix(".png"))


def agreement(inputs, out, **options):
    """MoSo's first-order estimate vs exact leave-one-out retraining (and the linearised ceiling)."""
    import tempfile

    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        run_agreement(tmp, figure=False, **options)
        df = pd.read_csv(Path(tmp) / "agreement.csv")
        sm = pd.read_csv(Path(tmp) / "agreement_summary.csv")
    io.write_dataframe(out["table"], df)
    io.write_dataframe(out["summary"], sm)
    stem = Path(out["pdf"]).with_suffix("")
    plot_agreement(df, sm, stem, options.get("T", 10))
    if str(stem) + ".png" != out["png"]:
        raise ValueError("agreement: pdf and png outputs must share a stem")


STUDY = register_study(
    "agreement", agreement,
    outputs=[table("table", "moso_agreement.csv"), table("summary", "moso_agreement_summary.csv"),
             figure("pdf", "moso_agreement.pdf", category="MoSo", caption="MoSo (Tan et al. 2023): the exact score, M(z) = L(S∖z; w_{S∖z}) − L(S∖z; w_S) by retraining without each\nsample with the same recipe and number of steps (x), against the paper's first-order estimate from the\ntraining trajectory (every step, and T sampled checkpoints) and the linearised ceiling of any first-order\nestimate (ε-down-weighting, retrained), on logistic regression and a tiny MLP over a digits subset\n(full-batch gradient descent). The table gives Spearman and Pearson correlations. Loose agreement is a property\nof a first-order estimate on a finite trajectory, reported as measured."),
             figure("png", "moso_agreement.png")],
    options=lambda files, w=None: (files.cfg.get("studies") or {}).get("agreement", {"n": 40, "steps": 200}),
    targets=lambda files: [files.figure("moso_agreement.pdf")] if scorers_with_study(files, "agreement") else [],
    inputs_arg="none", local=False, env="torch", benchmark=True,
)

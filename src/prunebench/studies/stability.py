"""Stability of each method's scores across surrogate seeds (Spearman between every pair of seeds).

The reproducibility complaint in the seed papers' trackers: :func:`score_stability` gives the rank agreement
of one method's scores across seeds (Spearman ρ by :func:`prunebench.plots.correlation.spearman_matrix`);
:func:`plot_stability` draws it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from ..plots.common import PathLike, panel_groups, panel_title, read_frame
from ..plots.style import method_color, new_figure, save_figure
from .common import read_scores, split_inputs, write_table
from .registry import figure, register_study, table

STABILITY_COLUMNS = [
    "exp",
    "dataset",
    "noise",
    "arch",
    "scorer",
    "n_seeds",
    "n_pairs",
    "rho_mean",
    "rho_min",
    "rho_max",
    "rho_std",
]


def score_stability(score_files) -> pd.DataFrame:
    """Spearman ρ between one method's scores from different seeds (all unordered pairs), per
    (exp, dataset, noise, arch, scorer): mean, min, max and std (ddof 0) over the pairs. Seed s uses
    surrogate s, so this measures how much the ranking depends on the surrogate's training run;
    ``random`` gives ρ ≈ 0 as a floor. Methods with a single seed get ``n_pairs`` 0 and NaN ρ."""
    from ..plots.correlation import spearman_matrix

    sc = read_scores(score_files)
    rows = []
    for key, g in sc.groupby(["exp", "dataset", "noise", "arch", "scorer"], sort=True):
        g = g.sort_values("seed")
        k = len(g)
        rho = np.array([])
        if k > 1:
            mat = spearman_matrix(np.stack(list(g["scores"]), axis=1))
            rho = np.array([mat[i, j] for i, j in itertools.combinations(range(k), 2)])
        ok = rho[np.isfinite(rho)]
        rows.append(
            {
                **dict(zip(["exp", "dataset", "noise", "arch", "scorer"], key)),
                "n_seeds": k,
                "n_pairs": int(rho.size),
                "rho_mean": float(ok.mean()) if ok.size else math.nan,
                "rho_min": float(ok.min()) if ok.size else math.nan,
                "rho_max": float(ok.max()) if ok.size else math.nan,
                "rho_std": float(ok.std()) if ok.size else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=STABILITY_COLUMNS)


def plot_stability(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Seed-to-seed rank stability of each method's scores (:func:`score_stability`):
    bar = mean Spearman ρ over all pairs of seeds, whisker from the least to the most similar pair;
    one panel per (dataset, noise, surrogate arch). ``random`` (ρ ≈ 0) is the floor."""
    from matplotlib.lines import Line2D

    d = read_frame(df)
    d = d[d["n_pairs"] > 0]
    panels = panel_groups(d, ["exp", "dataset", "arch"], always=["noise"])
    k = d["scorer"].nunique() if len(d) else 1
    fig, axes = new_figure(len(panels), ncols=min(3, len(panels)), panel_size=(3.6, 0.8 + 0.26 * k))
    for ax, (key, g) in zip(axes, panels):
        g = g.sort_values(["rho_mean", "scorer"], ascending=[True, True], kind="stable")
        y = np.arange(len(g))
        ax.barh(y, g["rho_mean"], color=[method_color(m) for m in g["scorer"]], edgecolor="0.25", lw=0.5)
        ax.hlines(y, g["rho_min"], g["rho_max"], color="black", lw=1.0)
        ax.plot(g["rho_min"], y, "|", color="black", ms=6)
        ax.plot(g["rho_max"], y, "|", color="black", ms=6)
        for yi, val in zip(y, g["rho_mean"]):
            ax.annotate(
                f"{val:.2f}",
                (1.0, yi),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=6,
                annotation_clip=False,
            )
        ax.set_yticks(y, list(g["scorer"]), fontsize=7)
        ax.grid(axis="y", visible=False)
        ax.axvline(0, color="0.3", lw=0.8)
        lo = min(-0.05, float(g["rho_min"].min()) - 0.05) if len(g) else -0.05
        ax.set_xlim(lo, 1.0)
        ax.set_xlabel("Spearman ρ between seeds")
        n_seeds = int(g["n_seeds"].max()) if len(g) else 0
        ax.set_title(f"{panel_title(key)} ({n_seeds} seeds)")
    handles = [
        Line2D([], [], color="0.6", lw=6, label="mean over seed pairs"),
        Line2D([], [], color="black", marker="|", ms=6, label="min – max pair"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    save_figure(fig, out_pdf, out_png)


def run(inputs, out):
    df = score_stability(split_inputs(inputs)["scores"])
    write_table(df, out["table"])
    plot_stability(df, out["pdf"], out["png"])


STUDY = register_study(
    "stability", run,
    outputs=[table("table", "score_stability.csv"),
             figure("pdf", "score_stability.pdf", category="Scores", caption="Stability of each method's scores across surrogate seeds: Spearman rank correlation between the score\nvectors of every pair of seeds (random is ≈ 0 by construction)."),
             figure("png", "score_stability.png")],
    inputs=lambda files, w=None: {"scores": files.main_inputs(files.seeds)[0]},
    targets=lambda files: [files.figure("score_stability.pdf")],
)

"""Test accuracy vs pruning ratio: mean ± std band over seeds, one line per method."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..stats import method_key
from .style import keep_varied, method_color, new_figure, save_figure


def with_reference(df: pd.DataFrame) -> pd.DataFrame:
    """Attach the full-data (ratio 0) reference to every method's curve."""
    ref = df[df["scorer"] == "full"]
    rest = df[df["scorer"] != "full"]
    parts = [rest]
    keys = [k for k in ("exp", "dataset") if k in df.columns]
    for key, grp in rest.groupby([*keys, "noise", "arch", "target"]):
        *outer, noise, arch, target = key
        # the full-data reference is stored once per (dataset, noise, target), under arch = target
        sel = (ref["noise"] == noise) & (ref["target"] == target)
        for k, v in zip(keys, outer):
            sel &= ref[k] == v
        r = ref[sel].assign(arch=arch)
        if r.empty:
            continue
        for (scorer, strategy), _ in grp.groupby(["scorer", "strategy"]):
            parts.append(r.assign(scorer=scorer, strategy=strategy))
    return pd.concat(parts, ignore_index=True)


def accuracy_vs_ratio(table: str, out_pdf: str, out_png: str, noise: str | None = None) -> None:
    """One panel per ([dataset,] noise, surrogate arch → target) retrained at two or more ratios (settings
    at a single ratio, e.g. the cross-architecture grid, have their own figure; all are drawn when
    none has two); lines = methods."""
    import seaborn as sns
    from matplotlib.lines import Line2D

    df = pd.read_csv(table)
    if noise is not None:
        df = df[df["noise"] == noise]
    df = with_reference(df)
    df["method"] = [method_key(s, t) for s, t in zip(df["scorer"], df["strategy"])]
    df["panel"] = df["noise"] + ": " + df["arch"] + " → " + df["target"]
    if "regime" in df.columns:  # the convergence check's label, where it failed
        df["panel"] = df["panel"] + np.where(df["regime"] == "not converged", " (not converged)", "")
    if "dataset" in df.columns and df["dataset"].nunique() > 1:
        df["panel"] = df["dataset"] + "\n" + df["panel"]  # two title lines: the panels stay apart
    df = keep_varied(df, ["panel"], df["ratio"].where(df["ratio"] > 0))  # curves, not single-ratio points
    panels = sorted(df["panel"].unique())
    methods = sorted(df["method"].unique())
    # the legend sits outside on the right: room for it, and a figure tall enough for many methods
    ncols = min(3, len(panels))
    rows = math.ceil(len(panels) / ncols)
    height = max(2.8, (0.6 + 0.19 * len(methods)) / rows)
    fig, axes = new_figure(len(panels), ncols=ncols, panel_size=(3.4 + 1.9 / ncols, height))
    for i, (ax, panel) in enumerate(zip(axes, panels)):
        sub = df[df["panel"] == panel]
        sns.lineplot(data=sub, x="ratio", y="accuracy", hue="method", hue_order=methods, errorbar="sd",
                     palette={m: method_color(m) for m in methods}, marker="o", ax=ax, legend=False)
        if "empty_classes" in sub.columns:  # a red × on every point whose subsets left a class empty
            means = sub.groupby(["method", "ratio"]).agg(accuracy=("accuracy", "mean"), empty=("empty_classes", "max"))
            bad = means[means["empty"] > 0].reset_index()  # at the curve's point: the mean over all seeds
            if len(bad):
                ax.scatter(bad["ratio"], bad["accuracy"], marker="x", s=60, color="red", zorder=5, linewidths=1.5)
                if i == 0:
                    ax.annotate("× = a class left empty", (0.02, 0.02), xycoords="axes fraction", fontsize=7,
                                color="red")
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("fraction of training set removed")
        ax.set_ylabel("test accuracy (mean ± std over seeds)" if i % ncols == 0 else "")
    handles = [Line2D([], [], color=method_color(m), marker="o", label=m) for m in methods]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    save_figure(fig, out_pdf, out_png)

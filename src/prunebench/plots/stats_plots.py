"""Figures of the statistics layer: critical-difference diagram, accuracy vs compute, scoring cost.

All figures use ``style.method_color`` (one colour per method everywhere) and ``style.save_figure``
(atomic, fixed metadata: the same tables give byte-identical PDF and PNG files).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from ..stats import nemenyi_groups
from ..studies.cost import pareto_front
from .style import method_color, new_figure, save_figure

PANEL_KEYS = ("exp", "dataset", "noise", "arch", "target")
RATIO_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def _avg_ranks(ranks) -> pd.Series:
    if isinstance(ranks, pd.DataFrame):
        ranks = ranks["avg_rank"]
    return pd.Series(ranks, dtype=float).sort_values(kind="stable")


def plot_cd_diagram(
    ranks,
    cd: float,
    out_pdf: str | os.PathLike | None,
    out_png: str | os.PathLike | None,
    *,
    title: str | None = None,
    alpha: float = 0.05,
) -> None:
    """Critical-difference diagram (Demšar 2006, JMLR 7, Fig. 1 style).

    ``ranks``: average rank per method (Series, or the DataFrame of ``stats.rank_summary`` with column
    ``avg_rank``); rank 1 = best, drawn on the left. The better half of the methods is labelled on the
    left, the rest on the right; thick bars join methods whose ranks differ by less than ``cd`` (Nemenyi:
    not significantly different at ``alpha``); the CD interval is drawn above the axis.
    """
    r = _avg_ranks(ranks)
    names, vals = list(r.index), r.to_numpy()
    k = len(names)
    lo, hi = 1, max(k, int(math.ceil(np.nanmax(vals))) if k else 1)
    n_left = (k + 1) // 2
    groups = nemenyi_groups(r, cd) if np.isfinite(cd) else []
    step = 0.32
    height = 1.1 + step * max(n_left, k - n_left) + 0.12 * len(groups)
    fig, (ax,) = new_figure(1, 1, panel_size=(6.4, height))
    ax.set_axis_off()
    y_axis = 0.0
    ax.hlines(y_axis, lo, hi, color="black", lw=1.2)
    for t in range(lo, hi + 1):
        ax.vlines(t, y_axis, y_axis + 0.08, color="black", lw=1.0)
        ax.text(t, y_axis + 0.12, str(t), ha="center", va="bottom", fontsize=9)
    for t in np.arange(lo + 0.5, hi, 1.0):
        ax.vlines(t, y_axis, y_axis + 0.04, color="black", lw=0.8)
    if np.isfinite(cd):
        y_cd = y_axis + 0.55
        ax.hlines(y_cd, lo, lo + cd, color="black", lw=1.5)
        ax.vlines([lo, lo + cd], y_cd - 0.05, y_cd + 0.05, color="black", lw=1.5)
        ax.text(lo + cd / 2, y_cd + 0.07, f"CD = {cd:.2f} (α = {alpha:g})", ha="center", va="bottom", fontsize=8)
    # cliques, just below the axis
    y_bar0 = y_axis - 0.12
    for gi, g in enumerate(groups):
        rr = r[list(g)]
        y = y_bar0 - 0.12 * gi
        ax.hlines(y, rr.min() - 0.03, rr.max() + 0.03, color="black", lw=3.0)
    y_lab0 = y_bar0 - 0.12 * max(len(groups), 1) - 0.15
    for i, (name, v) in enumerate(zip(names, vals)):
        left = i < n_left
        row = i if left else k - 1 - i
        y = y_lab0 - step * row
        x_end = lo - 0.4 if left else hi + 0.4
        color = method_color(name)
        ax.plot([v, v, x_end], [y_axis, y, y], color=color, lw=1.2, solid_joinstyle="miter")
        ax.plot([v], [y_axis], marker="o", ms=3.5, color=color)
        label = f"{name} ({v:.2f})" if left else f"({v:.2f}) {name}"
        ax.text(x_end + (-0.05 if left else 0.05), y, label, ha="right" if left else "left", va="center", fontsize=9)
    ax.set_xlim(lo - 2.6, hi + 2.6)
    ax.set_ylim(y_lab0 - step * max(n_left, k - n_left) - 0.05, y_axis + 0.9)
    if title:
        ax.set_title(title)
    save_figure(fig, out_pdf, out_png)


def _panels(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    keys = [k for k in PANEL_KEYS if k in df.columns and df[k].nunique() > 1]
    if not keys:
        label = " · ".join(str(df[k].iloc[0]) for k in PANEL_KEYS if k in df.columns and k != "exp") if len(df) else ""
        return [(label, df)]
    out = []
    for key, g in df.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        out.append((" · ".join(map(str, key)), g))
    return out


def plot_cost_vs_accuracy(
    points: pd.DataFrame,
    out_pdf: str | os.PathLike | None,
    out_png: str | os.PathLike | None,
    *,
    cost_col: str = "total_s",
    acc_col: str = "accuracy",
    sd_col: str | None = "accuracy_sd",
    title: str | None = None,
) -> None:
    """Accuracy against total compute (log x), one point per method and pruning ratio.

    ``points``: ``studies.cost.cost_accuracy`` output (columns ``method``, ``ratio``, ``cost_col``, ``acc_col``
    and optionally ``sd_col``; one panel per distinct (exp, dataset, noise, arch, target)). Colour =
    method, marker = ratio; the dashed step line per ratio is the Pareto front (``studies.cost.pareto_front``:
    no other method at that ratio is both cheaper and more accurate); settings retrained at one ratio only
    are drawn only when no setting has two or more. The full-data reference (ratio 0)
    is a black star and a dotted horizontal line. Total compute = surrogate (as attributed by
    ``studies.cost.cost_table``) + scoring + selection + retraining on the subset.
    """
    df = points.copy()
    df["ratio"] = df["ratio"].astype(float).round(6)
    panels = _panels(df)
    # settings retrained at a single ratio (the cross-architecture grid) are left out when others exist
    many = [(lab, g) for lab, g in panels if g.loc[g["ratio"] > 0, "ratio"].nunique() >= 2]
    panels = many or panels
    fig, axes = new_figure(len(panels), ncols=min(2, len(panels)), panel_size=(4.6, 3.4))
    ratios = sorted(r for r in df["ratio"].unique() if r > 0)
    markers = {r: RATIO_MARKERS[i % len(RATIO_MARKERS)] for i, r in enumerate(ratios)}
    methods = sorted(m for m in df["method"].unique() if m != "full")
    for ax, (label, g) in zip(axes, panels):
        full = g[(g["ratio"] == 0) | (g["method"] == "full")]
        rest = g[(g["ratio"] > 0) & (g["method"] != "full")]
        for r in ratios:
            sub = rest[rest["ratio"] == r].sort_values("method")
            if sub.empty:
                continue
            for _, row in sub.iterrows():
                yerr = row[sd_col] if sd_col and sd_col in sub.columns and np.isfinite(row[sd_col]) else None
                ax.errorbar(
                    row[cost_col], row[acc_col], yerr=yerr, fmt=markers[r], color=method_color(row["method"]),
                    ms=5, mec="black", mew=0.4, elinewidth=0.8, capsize=0, zorder=3,
                )  # fmt: skip
            pts = sub[[cost_col, acc_col]].to_numpy(np.float64)
            front = sub.iloc[pareto_front(pts)]
            if len(front):
                x = front[cost_col].to_numpy()
                y = front[acc_col].to_numpy()
                ax.step(x, y, where="post", ls="--", lw=0.9, color="0.35", zorder=2)
                ax.annotate(f"r={r:.2f}", (x[-1], y[-1]), xytext=(4, 0), textcoords="offset points", fontsize=7,
                            color="0.3", va="center")  # fmt: skip
        if len(full):
            fx, fy = float(full[cost_col].mean()), float(full[acc_col].mean())
            ax.axhline(fy, ls=":", lw=0.9, color="black", zorder=1)
            ax.plot([fx], [fy], marker="*", ms=10, color="black", zorder=4)
        ax.set_xscale("log")
        from matplotlib.ticker import NullFormatter

        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a narrow log range overlap
        ax.set_xlabel("total compute (s, log scale)")
        ax.set_ylabel(f"test {acc_col} (mean over seeds)")
        ax.set_title(title or label)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=method_color(m), edgecolor="black", lw=0.4, label=m) for m in methods]
    handles += [
        Line2D([], [], ls="", marker=markers[r], color="0.6", mec="black", mew=0.4, label=f"ratio {r:.2f}")
        for r in ratios
    ]
    handles += [Line2D([], [], ls="--", color="0.35", label="Pareto front (per ratio)")]
    if ((df["ratio"] == 0) | (df["method"] == "full")).any():
        handles += [Line2D([], [], ls=":", marker="*", color="black", label="full data")]
    fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
    save_figure(fig, out_pdf, out_png)


def plot_scoring_cost(
    costs: pd.DataFrame,
    out_pdf: str | os.PathLike | None,
    out_png: str | os.PathLike | None,
    *,
    full_seconds: float | None = None,
    log: bool = True,
    title: str | None = None,
) -> None:
    """Horizontal bars of the cost of *choosing* the subset per method: surrogate (as attributed by
    ``studies.cost.cost_table``) + scoring + selection, mean over seeds and ratios; one panel per
    (exp, dataset, noise, arch). The vertical line is the full-data training time (``full_seconds``,
    else the mean ``retrain_s`` of method ``full``): a method right of it costs more to select a subset
    than training on all the data.
    """
    keys = [k for k in ("exp", "dataset", "noise", "arch") if k in costs.columns]
    full_rows = costs[costs["method"] == "full"]
    c = costs[costs["method"] != "full"]
    agg = c.groupby([*keys, "method"], sort=True)[["surrogate_s", "score_s", "select_s"]].mean().reset_index()
    panels = _panels(agg)
    fig, axes = new_figure(
        len(panels), ncols=min(2, len(panels)), panel_size=(4.6, 0.6 + 0.28 * agg["method"].nunique())
    )
    for ax, (label, g) in zip(axes, panels):
        g = g.assign(sel=g["surrogate_s"] + g["score_s"] + g["select_s"]).sort_values(["sel", "method"])
        y = np.arange(len(g))
        colors = [method_color(m) for m in g["method"]]
        floor = 1e-3
        left = np.full(len(g), floor if log else 0.0)
        for part, hatch, alpha in (("surrogate_s", "///", 0.45), ("score_s", None, 1.0), ("select_s", "..", 0.7)):
            w = g[part].to_numpy(np.float64)
            ax.barh(y, np.maximum(w, 0), left=left, color=colors, alpha=alpha, hatch=hatch, edgecolor="0.25", lw=0.4)
            left = left + np.maximum(w, 0)
        ax.set_yticks(y, list(g["method"]))
        ref = full_seconds
        if ref is None and len(full_rows):
            sel = full_rows
            for k in keys:
                sel = sel[sel[k] == g[k].iloc[0]]
            ref = float(sel["retrain_s"].mean()) if len(sel) else None
        if ref is not None and np.isfinite(ref):
            ax.axvline(ref, color="black", ls="--", lw=1.0)
            ax.annotate(
                "full-data training", (ref, len(g) - 0.5), xytext=(3, 0), textcoords="offset points", fontsize=7
            )
        if log:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlim(left=floor)
        ax.set_xlabel("seconds to choose the subset (mean over seeds)")
        ax.set_title(title or label)
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor="0.6", alpha=0.45, hatch="///", edgecolor="0.25", label="surrogate training (attributed)"),
        Patch(facecolor="0.6", edgecolor="0.25", label="scoring"),
        Patch(facecolor="0.6", alpha=0.7, hatch="..", edgecolor="0.25", label="selection"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=7, frameon=False)
    save_figure(fig, out_pdf, out_png)

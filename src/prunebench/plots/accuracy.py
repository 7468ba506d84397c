"""Test accuracy vs pruning ratio (the head-to-head figure): each method once, under its release protocol,
one panel per (setting, method family) with random and full data drawn in every panel as references.

The uniform-protocol copies that the protocol study retrains (``<scorer>-uniform``, or the scorer under
strategy ``keep`` beside its release strategy) are left out here: they are compared in figures/protocol.png.
Means and stds are computed here (no seaborn bootstrap), so the same table gives the same bytes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..stats import method_key
from .style import FAMILIES, MARKERS, OTHER_FAMILY, apply_style, keep_varied, method_color, method_family, save_figure


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


#: the most method lines one panel holds besides the two references (random, full data)
MAX_METHODS = 6
#: strategy of the uniform protocol (global top-k): prunebench.plan.specs.UNIFORM_STRATEGY
UNIFORM_STRATEGY = "keep"
UNIFORM_SUFFIX = "-uniform"


def uniform_copies(df: pd.DataFrame, pairs=None) -> set[tuple[str, str]]:
    """``(scorer, strategy)`` rows of ``df`` that only the protocol study runs: a method under the uniform
    protocol where that differs from its release protocol.

    ``pairs``: the run's ``(method, protocol, scorer, strategy)`` rows (``prunebench.plan.Files.
    protocol_pairs_all``); exact when given. Without them they are read off the table: a scorer named
    ``<scorer>-uniform``, and a scorer's ``keep`` rows when the same scorer also runs under another strategy
    (its release's selection rule, e.g. ``moso`` beside ``moso+classeq``, ``random`` beside ``random+classbal``)."""
    present = set(zip(df["scorer"].astype(str), df["strategy"].astype(str)))
    if pairs is not None:
        release = {(str(sc), str(st)) for _, proto, sc, st in pairs if proto == "release"}
        uniform = {(str(sc), str(st)) for _, proto, sc, st in pairs if proto == "uniform"}
        return (uniform - release) & present
    out = {(sc, st) for sc, st in present if sc.endswith(UNIFORM_SUFFIX)}
    strategies: dict[str, set[str]] = {}
    for sc, st in present:
        strategies.setdefault(sc, set()).add(st)
    out |= {(sc, UNIFORM_STRATEGY) for sc, sts in strategies.items() if UNIFORM_STRATEGY in sts and len(sts) > 1}
    return out


def release_only(df: pd.DataFrame, pairs=None) -> pd.DataFrame:
    """``df`` without the uniform-protocol copies (:func:`uniform_copies`)."""
    drop = uniform_copies(df, pairs)
    keep = [(str(sc), str(st)) not in drop for sc, st in zip(df["scorer"], df["strategy"])]
    return df[keep]


def _family_order(family: str) -> int:
    names = list(FAMILIES) + [OTHER_FAMILY]
    return names.index(family) if family in names else len(names)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    """``items`` in ceil(n / size) consecutive groups of near-equal length (≤ ``size`` each)."""
    if not items:
        return []
    n = -(-len(items) // size)
    step = -(-len(items) // n)
    return [items[i : i + step] for i in range(0, len(items), step)]


def head_to_head_panels(df: pd.DataFrame) -> tuple[list[str], list[str], dict[tuple[str, str], list[str]]]:
    """``(settings, columns, methods)``: the figure's rows (settings), its columns (method families, split
    into parts of at most :data:`MAX_METHODS` methods), and the methods of each (setting, column) cell."""
    settings = sorted(df["panel"].unique())
    is_ref = df["family"] == "reference"
    fams: dict[str, list[str]] = {}
    for fam, grp in df[~is_ref].groupby("family"):
        fams[fam] = sorted(grp["method"].unique())
    columns, members = [], {}
    for fam in sorted(fams, key=lambda f: (_family_order(f), f)):
        parts = _chunks(fams[fam], MAX_METHODS)
        for i, part in enumerate(parts):
            col = fam if len(parts) == 1 else f"{fam} ({i + 1}/{len(parts)})"
            columns.append(col)
            members[col] = part
    cells = {}
    for setting in settings:
        here = set(df.loc[(df["panel"] == setting) & ~is_ref, "method"])
        for col in columns:
            ms = [m for m in members[col] if m in here]
            if ms:
                cells[(setting, col)] = ms
        if not any(k[0] == setting for k in cells):  # the references alone: one panel
            cells[(setting, columns[0] if columns else "references")] = []
    if not columns:
        columns = ["references"]
    return settings, columns, cells


def _mean_sd(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby("ratio")
    out = g.agg(mean=("accuracy", "mean"), sd=("accuracy", "std")).reset_index()
    out["sd"] = out["sd"].fillna(0.0)
    if "empty_classes" in df.columns:
        out["empty"] = g["empty_classes"].max().to_numpy()
    else:
        out["empty"] = 0
    return out.sort_values("ratio")


def _draw(ax, stats: pd.DataFrame, label: str, color: str, marker: str, ls: str = "-", zorder: float = 2) -> None:
    x, m, sd = (stats[c].to_numpy(np.float64) for c in ("ratio", "mean", "sd"))
    ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.15, lw=0, zorder=zorder - 0.5)
    ax.plot(x, m, color=color, marker=marker, ms=4, lw=1.4, ls=ls, label=label, zorder=zorder)
    bad = stats[stats["empty"] > 0]
    if len(bad):  # a red × on every point whose subsets left a class empty (at the mean over seeds)
        ax.scatter(bad["ratio"], bad["mean"], marker="x", s=55, color="red", zorder=zorder + 3, linewidths=1.5,
                   label="_empty")


def build_figure(df: pd.DataFrame, pairs=None):
    """The head-to-head figure (a ``matplotlib.figure.Figure``) of a long retrain table (see
    :func:`accuracy_vs_ratio`)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    df = release_only(df.copy(), pairs)
    df["ratio"] = df["ratio"].astype(float).round(6)
    df = with_reference(df)
    df["method"] = [method_key(s, t) for s, t in zip(df["scorer"], df["strategy"])]
    df["family"] = [method_family(s) for s in df["scorer"]]
    df["panel"] = df["noise"] + ": " + df["arch"] + " → " + df["target"]
    if "regime" in df.columns:  # the convergence check's label, where it failed
        df["panel"] = df["panel"] + np.where(df["regime"] == "not converged", "\n(not converged)", "")
    if "dataset" in df.columns and df["dataset"].nunique() > 1:
        df["panel"] = df["dataset"] + ", " + df["panel"]
    df = keep_varied(df, ["panel"], df["ratio"].where(df["ratio"] > 0))  # curves, not single-ratio points
    settings, columns, cells = head_to_head_panels(df)

    apply_style()
    nrows, ncols = len(settings), len(columns)
    fig = Figure(figsize=(3.8 * ncols, 3.2 * nrows + 0.4), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False, sharey="row")
    any_empty = False
    for r, setting in enumerate(settings):
        here = df[df["panel"] == setting]
        refs = here[here["family"] == "reference"]
        # the full-data runs, attached at ratio 0 to every curve of the setting (with_reference): one copy
        at0 = here[here["ratio"] == 0]
        full = at0[at0["method"] == at0["method"].min()] if len(at0) else at0
        if len(full):
            full_mu, full_sd = float(full["accuracy"].mean()), float(full["accuracy"].std(ddof=1))
            full_sd = 0.0 if math.isnan(full_sd) else full_sd
        first = True
        for c, col in enumerate(columns):
            ax = grid[r][c]
            if (setting, col) not in cells:
                ax.remove()
                continue
            methods = cells[(setting, col)]
            for i, m in enumerate(methods):
                _draw(ax, _mean_sd(here[here["method"] == m]), m, method_color(m), MARKERS[i % len(MARKERS)], zorder=3)
            for m in sorted(refs["method"].unique()):  # random under its release protocol
                _draw(ax, _mean_sd(refs[refs["method"] == m]), m, method_color(m), "o", ls="--", zorder=2)
            if len(full):  # the full-data reference: a level, mean ± std over seeds
                ax.axhspan(full_mu - full_sd, full_mu + full_sd, color="black", alpha=0.08, lw=0, zorder=1)
                ax.axhline(full_mu, color="black", ls=":", lw=1.2, label="full data", zorder=1.5)
            any_empty |= any(t.get_label() == "_empty" for t in ax.collections)
            ax.set_title(f"{col}\n{setting}" if col != "references" else setting, fontsize=9)
            ax.set_xlabel("fraction of training set removed")
            ax.set_ylabel("test accuracy (mean ± std over seeds)" if first else "")
            ax.tick_params(labelleft=True)
            ax.set_xticks(sorted(here["ratio"].unique()))
            ax.legend(loc="best", fontsize=6.5, frameon=True, framealpha=0.85, handlelength=2.2,
                      borderaxespad=0.4)
            first = False
    if any_empty:
        fig.legend(handles=[Line2D([], [], color="red", marker="x", ls="", label="a class left empty (mean over seeds)")],
                   loc="outside lower center", fontsize=8, frameon=False)
    return fig


def accuracy_vs_ratio(table, out_pdf, out_png, noise: str | None = None, pairs=None) -> None:
    """The head-to-head figure: test accuracy (mean ± std over seeds) against the fraction removed, each
    method once under its release protocol (``pairs``: see :func:`uniform_copies`).

    Rows: the ([dataset,] noise, surrogate arch → target) settings retrained at two or more ratios
    (single-ratio settings, e.g. the cross-architecture grid, have their own figure; all are drawn when
    none has two). Columns: method families (:data:`prunebench.plots.style.FAMILIES`), split so that no
    panel holds more than :data:`MAX_METHODS` methods; each panel also draws random (its release protocol,
    dashed) and the full-data accuracy (dotted, ± std band). The curves start at the full-data point
    (ratio 0, shared by all methods)."""
    df = pd.read_csv(table)
    if noise is not None:
        df = df[df["noise"] == noise]
    save_figure(build_figure(df, pairs), out_pdf, out_png)

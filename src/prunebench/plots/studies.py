"""Paper-style figures of the studies (:mod:`prunebench.studies.analyses`).

Every figure uses ``style.new_figure`` (seaborn theme, pyplot-free figure), ``style.method_color`` (one
colour per method in every figure) and ``style.save_figure`` (atomic; fixed metadata: identical inputs
give byte-identical PDF and PNG files). Means and stds are computed here from the tables (no seaborn
bootstrap, whose resampling would make the files depend on a random state).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..stats import method_key
from .accuracy import with_reference
from .style import keep_varied, method_color, new_figure, save_figure

PathLike = str | os.PathLike | None
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")


# ---------------------------------------------------------------------------------------------
# shared pieces
# ---------------------------------------------------------------------------------------------


def _frame(df_or_path) -> pd.DataFrame:
    df = pd.read_csv(df_or_path) if isinstance(df_or_path, (str, os.PathLike)) else df_or_path.copy()
    if "ratio" in df.columns:
        df["ratio"] = df["ratio"].astype(float).round(6)
    return df


def _noise_key(noise: str) -> tuple:
    from ..studies.analyses import noise_sort_key

    return noise_sort_key(noise)


def _method_order(methods) -> list[str]:
    """References first (full, random), then alphabetical."""
    methods = sorted(set(map(str, methods)))
    head = [m for m in ("full", "random") if m in methods]
    return head + [m for m in methods if m not in head]


def _varying(df: pd.DataFrame, keys) -> list[str]:
    return [k for k in keys if k in df.columns and df[k].nunique(dropna=False) > 1]


def _groups(df: pd.DataFrame, keys, always=()) -> list[tuple[dict, pd.DataFrame]]:
    """Split ``df`` by the ``keys`` that vary (plus ``always``); noise sorted clean → sym → asym by rate."""
    keys = list(dict.fromkeys([*_varying(df, keys), *always]))
    if not keys or df.empty:
        return [({}, df)]
    out = [(dict(zip(keys, k if isinstance(k, tuple) else (k,))), g) for k, g in df.groupby(keys, sort=True)]
    if "noise" in keys:
        out.sort(key=lambda kg: tuple(_noise_key(v) if k == "noise" else v for k, v in kg[0].items()))
    return out


def _title(d: dict, fmt: dict | None = None) -> str:
    fmt = fmt or {}
    parts = []
    for k, v in d.items():
        parts.append(fmt[k](v) if k in fmt else str(v))
    return " · ".join(parts)


def _mean_sd(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    g = df.groupby(by, sort=True)[value]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["sd"] = out["sd"].fillna(0.0)
    return out


def _line_band(ax, x, mean, sd, color, label=None, marker="o", ls="-"):
    x, mean, sd = (np.asarray(v, dtype=np.float64) for v in (x, mean, sd))
    ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.18, lw=0)
    ax.plot(x, mean, color=color, marker=marker, ms=4, lw=1.4, ls=ls, label=label, mec="white", mew=0.5)


def _method_handles(methods, marker="o"):
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=method_color(m), marker=marker, ms=5, lw=1.4, label=m) for m in methods]


def _outside_legend(fig, handles, title=None, fontsize=7):
    rows = max(1, round(fig.get_size_inches()[1] / 0.16))  # entries that fit the figure's height
    fig.legend(
        handles=handles,
        loc="outside right center",
        ncol=math.ceil(len(handles) / rows),
        fontsize=fontsize,
        frameon=False,
        title=title,
        title_fontsize=fontsize + 1,
    )


def _pct(v: float) -> str:
    return f"{100 * float(v):.0f}% removed"


# ---------------------------------------------------------------------------------------------
# accuracy vs ratio under label noise
# ---------------------------------------------------------------------------------------------


def plot_noise_grid(
    retrain_df, out_pdf: PathLike, out_png: PathLike, *, same_arch: bool = True, ncols: int | None = None
) -> None:
    """Test accuracy vs fraction removed, one panel per noise setting (clean, sym20, sym40, asym…);
    lines = methods (mean ± std band over seeds, full-data point attached at ratio 0 by
    :func:`prunebench.plots.accuracy.with_reference`), dotted black line = full-data accuracy.
    Rows: (dataset, surrogate → target) combinations when several exist; with ``same_arch`` only
    runs retrained on the surrogate's own architecture are drawn (cross-arch runs have their own figure).
    ``retrain_df``: the long retrain table (DataFrame or CSV path)."""
    df = _frame(retrain_df)
    if same_arch and (df["arch"] == df["target"]).any():
        df = df[df["arch"] == df["target"]]
    # rows: only the (dataset, arch, target) settings run under more than one noise setting (others,
    # e.g. the cross-architecture diagonal or a long-tailed subset on clean labels, have their figures)
    df = keep_varied(df, [k for k in ("exp", "dataset", "arch", "target") if k in df.columns], df["noise"])
    full = df[df["scorer"] == "full"]
    df = with_reference(df)
    df["method"] = [method_key(s, t) for s, t in zip(df["scorer"], df["strategy"])]
    methods = _method_order(df["method"].unique())
    noises = sorted(df["noise"].unique(), key=_noise_key)
    rows = _groups(df, ["exp", "dataset", "arch", "target"])
    ncol = ncols or len(noises)
    fig, axes = new_figure(len(rows) * len(noises), ncols=ncol, panel_size=(3.0, 2.6), sharey="row")
    for ri, (rkey, rdf) in enumerate(rows):
        for ci, noise in enumerate(noises):
            ax = axes[ri * len(noises) + ci]
            sub = rdf[rdf["noise"] == noise]
            stats = _mean_sd(sub, ["method", "ratio"], "accuracy")
            for m in methods:
                s = stats[stats["method"] == m].sort_values("ratio")
                if len(s):
                    _line_band(ax, s["ratio"], s["mean"], s["sd"], method_color(m))
            f = full[(full["noise"] == noise)]
            for k, v in rkey.items():
                f = f[f[k] == v]
            if len(f):
                ax.axhline(float(f["accuracy"].mean()), color="black", ls=":", lw=1.0)
            head = "clean labels" if noise == "clean" else f"label noise {noise}"
            ax.set_title(head + (f"\n{_title(rkey)}" if rkey else ""))
            ax.set_xlabel("fraction of training set removed")
            ax.set_ylabel("test accuracy (mean ± std)" if ci == 0 else "")
            ax.tick_params(labelleft=True)
    from matplotlib.lines import Line2D

    handles = _method_handles(methods) + [Line2D([], [], color="black", ls=":", label="full data")]
    _outside_legend(fig, handles, title="method")
    save_figure(fig, out_pdf, out_png)


# ---------------------------------------------------------------------------------------------
# which share of the mislabeled samples each method removes
# ---------------------------------------------------------------------------------------------


def plot_noisy_removed(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Fraction of the flipped (mislabeled) training samples removed vs fraction of the training set
    removed, per method (mean ± std over seeds; :func:`prunebench.studies.analyses.noisy_removed`).
    Dashed y = x: uniform random pruning's expectation. Above it: the method removes mislabeled
    samples preferentially; below: it keeps them (typical for "keep hard" scores). One panel per
    (dataset, noise, surrogate arch)."""
    from matplotlib.lines import Line2D

    d = _frame(df)
    d = d[d["ratio"] > 0]
    methods = _method_order(d["method"].unique())
    panels = _groups(d, ["exp", "dataset", "arch"], always=["noise"])
    fig, axes = new_figure(len(panels), ncols=min(3, len(panels)), panel_size=(3.2, 3.0))
    for ax, (key, g) in zip(axes, panels):
        ax.plot([0, 1], [0, 1], ls="--", color="0.45", lw=1.0, zorder=1)
        x = _mean_sd(g, ["method", "ratio"], "frac_removed")
        y = _mean_sd(g, ["method", "ratio"], "frac_flipped_removed")
        for m in methods:
            xs = x[x["method"] == m].sort_values("ratio")
            ys = y[y["method"] == m].sort_values("ratio")
            if len(xs):
                _line_band(ax, xs["mean"], ys["mean"], ys["sd"], method_color(m))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_aspect("equal", adjustable="box")
        n_flip = int(g["n_flipped"].iloc[0]) if "n_flipped" in g.columns and len(g) else 0
        ax.set_title(f"{_title(key)}  ({n_flip} flipped labels)")
        ax.set_xlabel("fraction of training set removed")
        ax.set_ylabel("fraction of flipped labels removed")
    handles = _method_handles(methods) + [Line2D([], [], ls="--", color="0.45", label="random (expected)")]
    _outside_legend(fig, handles, title="method")
    save_figure(fig, out_pdf, out_png)


# ---------------------------------------------------------------------------------------------
# cross-architecture transfer
# ---------------------------------------------------------------------------------------------


def plot_crossarch_heatmap(gain_df, out_pdf: PathLike, out_png: PathLike, *, methods=None) -> None:
    """Grid of heatmaps of the accuracy gain over random (percentage points, mean over seeds;
    :func:`prunebench.studies.analyses.crossarch_gain`): rows of a heatmap = surrogate (scoring)
    architecture A, columns = retraining architecture B; one panel per (method, ratio) (rows of the
    grid = methods, columns = ratios; dataset / noise added to the titles when several). Diverging
    colormap centred at 0 on one symmetric scale shared by all panels (blue = better than random),
    each cell annotated with its value; the diagonal (A = B) is outlined."""
    import seaborn as sns
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    d = _frame(gain_df)
    if methods is not None:
        d = d[d["method"].isin(list(methods))]
    archs = sorted(set(d["arch"]) | set(d["target"]))
    a_list = [a for a in archs if a in set(d["arch"])]
    b_list = [b for b in archs if b in set(d["target"])]
    ratios = sorted(d["ratio"].unique())
    outer = _groups(d, ["exp", "dataset", "noise"], always=["method"])
    n = len(outer) * len(ratios)
    side = max(2.0, 0.55 + 0.55 * max(len(b_list), 1))
    # one column per ratio; with a single ratio the methods sit side by side (up to 3 a row)
    ncols = len(ratios) if len(ratios) > 1 else min(n, 3)
    fig, axes = new_figure(n, ncols=ncols, panel_size=(side + 1.3, 0.55 + 0.5 * max(len(a_list), 1) + 0.9))
    vmax = float(np.nanmax(np.abs(d["gain_mean"]))) * 100 if len(d) else 1.0
    vmax = max(vmax, 0.1)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    cmap = "RdBu"
    for oi, (key, g) in enumerate(outer):
        for ri, r in enumerate(ratios):
            ax = axes[oi * len(ratios) + ri]
            s = g[g["ratio"] == r]
            mat = s.pivot_table(index="arch", columns="target", values="gain_mean", aggfunc="mean")
            mat = mat.reindex(index=a_list, columns=b_list) * 100.0
            text = np.vectorize(lambda v: "" if not np.isfinite(v) else f"{v + 0.0:+.1f}".replace("-0.0", "+0.0"))(
                np.round(mat.to_numpy(np.float64), 1)
            )
            sns.heatmap(
                mat,
                ax=ax,
                cmap=cmap,
                norm=norm,
                cbar=False,
                annot=text,
                fmt="",
                annot_kws={"size": 7},
                linewidths=0.5,
                linecolor="white",
                square=False,
            )
            for i, a in enumerate(a_list):
                if a in b_list:
                    ax.add_patch(Rectangle((b_list.index(a), i), 1, 1, fill=False, ec="black", lw=1.0))
            method = key.get("method", "")
            rest = {k: v for k, v in key.items() if k != "method"}
            ax.set_title(f"{method} · {_pct(r)}" + (f"\n{_title(rest)}" if rest else ""))
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.tick_params(axis="x", labelsize=7)
            for t in ax.get_xticklabels():
                t.set_rotation(30)
                t.set_ha("right")
                t.set_rotation_mode("anchor")
            ax.tick_params(axis="y", labelrotation=0, labelsize=7)
    from matplotlib.cm import ScalarMappable

    fig.supxlabel("retraining architecture (target B)", fontsize=9)
    fig.supylabel("scoring surrogate architecture (A)", fontsize=9)
    sm = ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(sm, ax=axes, shrink=0.8 if len(outer) > 1 else 1.0, pad=0.02)
    cb.set_label("accuracy gain over random\n(points, mean over seeds)", fontsize=8)
    save_figure(fig, out_pdf, out_png)


# ---------------------------------------------------------------------------------------------
# ablations
# ---------------------------------------------------------------------------------------------


def value_ramp(base_color: str, n: int) -> list[str]:
    """``n`` shades of ``base_color``'s hue, light → dark (HLS lightness 0.78 → 0.25): ordered colours
    for the ordered settings of one method's hyper-parameter sweep."""
    import colorsys

    from .style import to_hex, to_rgb

    h, _, s = colorsys.rgb_to_hls(*to_rgb(base_color))
    s = max(s, 0.45)
    lum = np.linspace(0.78, 0.25, n) if n > 1 else np.array([0.45])
    return [to_hex(colorsys.hls_to_rgb(h, float(v), s)) for v in lum]


def plot_ablation(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Per ablation family (:func:`prunebench.studies.analyses.ablation_table`), one row of two panels:
    left, Spearman ρ of each variant's scores with the reference setting (bar = mean over seeds,
    whisker = std, reference = 1 by construction, hatched); right, retrained test accuracy vs fraction
    removed per variant (mean ± std band over seeds). Variants are ordered by the swept value and
    coloured light → dark in their method's hue (:func:`value_ramp`; the per-variant shades of
    ``style.method_color`` are hashed, so neighbouring settings could look alike); the reference
    setting is hatched / dashed."""
    from .style import split_method

    d = _frame(df)
    rows = _groups(d, ["exp", "dataset", "noise", "arch"], always=["family"])
    fig, axes = new_figure(2 * len(rows), ncols=2, panel_size=(3.6, 2.7))
    for ri, (key, g) in enumerate(rows):
        ax_r, ax_a = axes[2 * ri], axes[2 * ri + 1]
        v = g.drop_duplicates("variant").copy()
        v["_v"] = v["value"].astype(float).fillna(np.inf)
        v = v.sort_values(["_v", "variant"], kind="stable")
        variants = list(v["variant"])
        labels = list(v["label"])
        refs = set(v["reference"])
        x = np.arange(len(variants))
        base = split_method(variants[0])[0] or str(v["reference"].iloc[0])
        colors = value_ramp(method_color(base), len(variants))
        rho = v["rho_mean"].to_numpy(np.float64)
        err = v["rho_std"].fillna(0.0).to_numpy(np.float64)
        bars = ax_r.bar(
            x, np.nan_to_num(rho), yerr=err, color=colors, edgecolor="0.25", lw=0.5, capsize=2, error_kw={"lw": 0.8}
        )
        for b, name, val, e in zip(bars, variants, rho, err):
            if name in refs:
                b.set_hatch("///")
            if np.isfinite(val):
                top = max(val, 0) + float(e)
                ax_r.annotate(
                    f"{val:.2f}",
                    (b.get_x() + b.get_width() / 2, top),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
        ax_r.set_xticks(x, labels, rotation=30 if max(map(len, labels), default=0) > 6 else 0, fontsize=7)
        ax_r.set_ylim(min(0.0, float(np.nanmin(rho - err)) - 0.05) if np.isfinite(rho).any() else 0.0, 1.12)
        family = key.get("family", "")
        rest = _title({k: val for k, val in key.items() if k != "family"})
        ax_r.set_title(f"{family}: agreement with {', '.join(sorted(refs))}" + (f"\n{rest}" if rest else ""))
        ax_r.set_ylabel("Spearman ρ with reference\n(mean ± std over seeds)")
        ax_r.set_xlabel(str(v["param"].dropna().iloc[0]) if v["param"].notna().any() else "variant")
        acc = g[g["ratio"].notna()]
        if "target" in acc.columns and (acc["target"] == acc["arch"]).any():
            acc = acc[acc["target"] == acc["arch"]]
        if acc.empty:
            ax_a.text(0.5, 0.5, "no retraining runs", ha="center", va="center", transform=ax_a.transAxes)
            ax_a.set_axis_off()
            continue
        for i, name in enumerate(variants):
            s = acc[acc["variant"] == name].groupby("ratio", sort=True)[["acc_mean", "acc_std"]].mean().reset_index()
            if len(s):
                _line_band(
                    ax_a,
                    s["ratio"],
                    s["acc_mean"],
                    s["acc_std"].fillna(0.0),
                    colors[i],
                    label=labels[i],
                    marker=MARKERS[i % len(MARKERS)],
                    ls="--" if name in refs else "-",
                )
        ax_a.set_title(f"{family}: retrained accuracy")
        ax_a.set_xlabel("fraction of training set removed")
        ax_a.set_ylabel("test accuracy (mean ± std)")
        ax_a.legend(
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
            fontsize=7,
            frameon=False,
            title=f"{family} (ref dashed)",
            title_fontsize=7,
        )
    save_figure(fig, out_pdf, out_png)


# ---------------------------------------------------------------------------------------------
# seed stability
# ---------------------------------------------------------------------------------------------


def plot_stability(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Seed-to-seed rank stability of each method's scores (:func:`prunebench.studies.analyses.score_stability`):
    bar = mean Spearman ρ over all pairs of seeds, whisker from the least to the most similar pair;
    one panel per (dataset, noise, surrogate arch). ``random`` (ρ ≈ 0) is the floor."""
    from matplotlib.lines import Line2D

    d = _frame(df)
    d = d[d["n_pairs"] > 0]
    panels = _groups(d, ["exp", "dataset", "arch"], always=["noise"])
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
        ax.set_title(f"{_title(key)} ({n_seeds} seeds)")
    handles = [
        Line2D([], [], color="0.6", lw=6, label="mean over seed pairs"),
        Line2D([], [], color="black", marker="|", ms=6, label="min – max pair"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    save_figure(fig, out_pdf, out_png)


# ---------------------------------------------------------------------------------------------
# lossless ratio
# ---------------------------------------------------------------------------------------------


def _ratio_list(text) -> list[float]:
    if not isinstance(text, str) or not text:
        return []
    return [float(v) for v in text.split(";")]


def plot_lossless(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Largest tested fraction removed whose mean accuracy stays within one std of full data
    (:func:`prunebench.studies.analyses.lossless_ratio`): bar = largest passing ratio; each tested
    ratio is marked on the method's row, filled where the method is within one std of full data there,
    open where it is not. One panel per (dataset, noise, surrogate → target); the title gives the
    full-data accuracy (mean ± std over seeds, %)."""
    from matplotlib.lines import Line2D

    d = _frame(df)
    panels = _groups(d, ["exp", "dataset", "arch", "target"], always=["noise"])
    k = d["method"].nunique() if len(d) else 1
    fig, axes = new_figure(
        len(panels), ncols=min(3, len(panels)), panel_size=(3.6, 1.0 + 0.3 * k + (0.5 if len(panels) == 1 else 0.0))
    )
    for ax, (key, g) in zip(axes, panels):
        g = g.sort_values(["lossless_ratio", "lossless_ratio_contiguous", "method"], kind="stable")
        y = np.arange(len(g))
        vals = g["lossless_ratio"].to_numpy(np.float64)
        colors = [method_color(m) for m in g["method"]]
        ax.barh(y, vals, color=colors, edgecolor="0.25", lw=0.5, height=0.7, alpha=0.9)
        for yi, (_, row) in zip(y, g.iterrows()):
            passed = set(_ratio_list(row.get("ratios_passed", "")))
            for r in _ratio_list(row.get("ratios_tested", "")):
                ok = r in passed
                ax.plot([r], [yi], "o", ms=5, mec="black", mew=0.8, mfc="black" if ok else "white", zorder=3)
            if vals[yi] == 0:
                ax.annotate(
                    "none", (0, yi), xytext=(2, 0), textcoords="offset points", va="center", fontsize=6, color="0.3"
                )
        ax.set_yticks(y, list(g["method"]), fontsize=7)
        ax.grid(axis="y", visible=False)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.6, len(g) - 0.4)
        ax.set_xlabel("largest fraction removed within 1 std\nof full-data accuracy")
        full = g["full_mean"].iloc[0] if len(g) else math.nan
        sd = g["full_std"].iloc[0] if len(g) else math.nan
        ax.set_title(f"{_title(key)}\nfull data {100 * full:.1f} ± {100 * np.nan_to_num(sd):.1f} %")
    handles = [
        Line2D([], [], color="0.6", lw=6, label="largest passing ratio"),
        Line2D([], [], marker="o", ls="", mfc="black", mec="black", label="within 1 std at this ratio"),
        Line2D([], [], marker="o", ls="", mfc="white", mec="black", label="below"),
    ]
    fig.legend(
        handles=handles, loc="outside lower center", ncols=3 if len(panels) > 1 else 1, fontsize=7, frameon=False
    )
    save_figure(fig, out_pdf, out_png)


# ---------------------------------------------------------------------------------------------
# class composition
# ---------------------------------------------------------------------------------------------


def _class_colors(n: int):
    import seaborn as sns

    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "husl"
    return sns.color_palette(name, n)


def plot_class_composition(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Class composition of the kept subsets (:func:`prunebench.studies.analyses.class_composition`):
    stacked bars of each class's share of the kept subset (%, by training label; mean over the
    seeds in the table), one bar per method, one panel per fraction removed; the first bar
    ("all data") is the full training set (= random pruning in expectation). A class that shrinks
    relative to "all data" is pruned more than its share."""
    d = _frame(df)
    d = d[(d["scorer"] != "full") & (d["ratio"] > 0)]
    classes = sorted(d["class"].unique())
    colors = dict(zip(classes, _class_colors(len(classes))))
    panels = _groups(d, ["exp", "dataset", "noise", "arch"], always=["ratio"])
    methods = _method_order(d["method"].unique())
    fig, axes = new_figure(len(panels), ncols=min(3, len(panels)), panel_size=(0.9 + 0.32 * (len(methods) + 1), 3.0))
    for ax, (key, g) in zip(axes, panels):
        share = g.groupby(["method", "class"], sort=True)["share"].mean().unstack("class").reindex(columns=classes)
        full = g.groupby("class", sort=True)["share_full"].first().reindex(classes)
        ms = [m for m in methods if m in share.index]
        table = pd.concat([full.to_frame("all data").T, share.reindex(ms)]).fillna(0.0) * 100
        x = np.arange(len(table))
        bottom = np.zeros(len(table))
        for c in classes:
            h = table[c].to_numpy(np.float64)
            ax.bar(x, h, bottom=bottom, color=colors[c], edgecolor="white", lw=0.3, width=0.8)
            bottom += h
        ax.set_xticks(x, list(table.index), rotation=45, ha="right", fontsize=7)
        for lab, name in zip(ax.get_xticklabels(), table.index):
            if name != "all data":
                lab.set_color(method_color(name))
        ax.set_ylim(0, 100)
        ax.set_ylabel("share of kept subset (%)")
        ax.set_title(_title(key, {"ratio": _pct}))
    if len(classes) <= 20:
        from matplotlib.patches import Patch

        handles = [Patch(facecolor=colors[c], label=str(c)) for c in classes[::-1]]
        _outside_legend(fig, handles, title="class")
    save_figure(fig, out_pdf, out_png)


# ---------------------------------------------------------------------------------------------
# class imbalance
# ---------------------------------------------------------------------------------------------


def plot_imbalance(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Pruning a long-tailed training set (:func:`prunebench.studies.analyses.imbalance_table`). One row
    per (dataset, noise, surrogate → target); columns: test accuracy on the tail classes, balanced
    test accuracy (mean over classes), and the tail's kept share relative to the whole set's
    (``tail_kept_vs_random``: 1 = random pruning's expectation, dashed; below 1 = the method prunes the
    rare classes harder). Lines = methods (mean ± std over seeds); dotted black = full data."""
    from matplotlib.lines import Line2D

    d = _frame(df)
    full = d[d["scorer"] == "full"]
    d = d[(d["scorer"] != "full") & (d["ratio"] > 0)]
    methods = _method_order(d["method"].unique())
    rows = _groups(d, ["exp", "dataset", "noise", "arch", "target"], always=["dataset"])
    cols = [("tail_acc_mean", "tail_acc_std", "tail-class test accuracy"),
            ("balanced_acc_mean", "balanced_acc_std", "balanced test accuracy"),
            ("tail_kept_vs_random", None, "tail kept share ÷ overall kept share")]
    fig, axes = new_figure(len(rows) * len(cols), ncols=len(cols), panel_size=(3.1, 2.7))
    tail = str(d["tail_classes"].iloc[0]).replace(";", ", ") if len(d) else ""
    for ri, (key, g) in enumerate(rows):
        f = full
        for k, v in key.items():  # the full run is stored under arch = target
            f = f[f[k] == v] if k != "arch" else f
        for ci, (col, sd_col, label) in enumerate(cols):
            ax = axes[ri * len(cols) + ci]
            for m in methods:
                s = pd.concat([f.iloc[:1], g[g["method"] == m]]).sort_values("ratio")  # full data at ratio 0
                if (s["scorer"] != "full").any():
                    sd = np.nan_to_num(s[sd_col].to_numpy(np.float64)) if sd_col else np.zeros(len(s))
                    _line_band(ax, s["ratio"], s[col], sd, method_color(m))
            if sd_col is None:
                ax.axhline(1.0, color="0.45", ls="--", lw=1.0)
            elif len(f):
                ax.axhline(float(f[col].mean()), color="black", ls=":", lw=1.0)
            ax.set_title(f"{label}\n{_title(key)}", fontsize=8)
            ax.set_xlabel("fraction of training set removed")
            ax.set_xticks(sorted({0.0, *g["ratio"].tolist()}))
    handles = _method_handles(methods) + [Line2D([], [], color="black", ls=":", label="full data"),
                                          Line2D([], [], color="0.45", ls="--", label="random (expected)")]
    _outside_legend(fig, handles, title=f"method\n(tail classes: {tail})")
    save_figure(fig, out_pdf, out_png)


# ---------------------------------------------------------------------------------------------
# most kept / most removed samples
# ---------------------------------------------------------------------------------------------


def _to_hwc(x: np.ndarray) -> np.ndarray:
    """(C, H, W) float [0, 1] or uint8 → (H, W) or (H, W, 3) float in [0, 1]."""
    x = np.asarray(x)
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    x = np.clip(x, 0.0, 1.0)
    if x.ndim == 2:
        return x
    if x.shape[0] == 1:
        return x[0]
    return np.transpose(x[:3], (1, 2, 0))


def _mosaic(images: list[np.ndarray], pad: int = 1) -> np.ndarray:
    """Tiles side by side with ``pad`` NaN (grayscale, drawn white) or white (RGB) columns between them."""
    h, w = images[0].shape[:2]
    rgb = images[0].ndim == 3
    n = len(images)
    out = np.full((h, n * w + (n - 1) * pad, 3) if rgb else (h, n * w + (n - 1) * pad), 1.0 if rgb else np.nan)
    for i, im in enumerate(images):
        out[:, i * (w + pad) : i * (w + pad) + w] = im
    return out


def _score_entries(score_files) -> list[tuple[str, str]]:
    """[(display name, path)]: a mapping is used as given; a list of contract paths is named by
    scorer (plus noise / arch when they vary), lowest seed per method."""
    from .. import paths

    if isinstance(score_files, Mapping):
        return [(str(k), str(v)) for k, v in score_files.items()]
    parsed = []
    for p in [score_files] if isinstance(score_files, (str, os.PathLike)) else score_files:
        try:
            parsed.append((paths.parse(p, "scores"), str(p)))
        except ValueError:
            parsed.append(({"scorer": Path(p).parent.name, "seed": 0}, str(p)))
    vary = [k for k in ("dataset", "noise", "arch") if len({d.get(k) for d, _ in parsed}) > 1]
    best: dict[str, tuple[int, str]] = {}
    for d, p in parsed:
        name = " · ".join([d["scorer"], *[str(d[k]) for k in vary]])
        if name not in best or d["seed"] < best[name][0]:
            best[name] = (d["seed"], p)
    names = _method_order(best)
    return [(n, best[n][1]) for n in names]


def extreme_samples(scores: np.ndarray, keep: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(the ``k`` indices kept first, the ``k`` removed first) under the score file's ``keep``
    direction ("high": highest scores kept first); ties broken by sample index (lower first in both)."""
    s = np.asarray(scores, dtype=np.float64)
    o = -s if keep == "low" else s
    idx = np.arange(s.size)
    kept = np.lexsort((idx, -o))[:k]
    removed = np.lexsort((idx, o))[:k]
    return kept, removed


def plot_sample_grid(
    score_files, data_dir, labels_file, out_pdf: PathLike, out_png: PathLike, *, k: int = 8, methods=None
) -> None:
    """Image grid of the ``k`` samples each method keeps first (left) and removes first (right), using
    each score file's ``keep`` direction (ties broken by sample index). One row per method (the lowest
    seed of each; or ``score_files`` as ``{name: path}``). Tick labels above each image give the
    *training* label; a flipped label is shown in red as ``training (clean)``, with clean labels from
    ``data_dir/train.npz`` (evaluation-only use). Images: ``train.npz`` ``x`` (N, C, H, W), float in
    [0, 1] or uint8, grayscale (drawn in gray) or RGB."""
    from ..io import load_npz
    from ..scorefile import read

    data_dir = Path(data_dir)
    train = load_npz(data_dir / "train.npz" if data_dir.is_dir() else data_dir)
    x, y_clean = train["x"], np.asarray(train["y"], dtype=np.int64)
    lab = load_npz(labels_file) if labels_file is not None else {"y": y_clean}
    y = np.asarray(lab["y"], dtype=np.int64)
    entries = _score_entries(score_files)
    if methods is not None:
        entries = [e for e in entries if e[0] in set(methods)]
    k = int(min(k, len(y) // 2)) if len(y) > 1 else 1
    fig, axes = new_figure(2 * len(entries), ncols=2, panel_size=(max(2.2, 0.3 + 0.55 * k), 0.9))
    for i, (name, path) in enumerate(entries):
        s, meta = read(path, n=len(y))
        kept, removed = extreme_samples(s, meta["keep"], k)
        for j, (idx, side) in enumerate(((kept, "kept"), (removed, "removed"))):
            ax = axes[2 * i + j]
            tiles = [_to_hwc(x[t]) for t in idx]
            mos = _mosaic(tiles)
            if mos.ndim == 2:
                import matplotlib as mpl

                cmap = mpl.colormaps["gray"].with_extremes(bad="white")
                ax.imshow(np.ma.masked_invalid(mos), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            else:
                ax.imshow(mos, interpolation="nearest")
            w = tiles[0].shape[1]
            centers = [t * (w + 1) + (w - 1) / 2 for t in range(len(idx))]
            ticks = [str(y[t]) if y[t] == y_clean[t] else f"{y[t]} ({y_clean[t]})" for t in idx]
            ax.set_xticks(centers, ticks, fontsize=6)
            ax.xaxis.tick_top()
            for tl, t in zip(ax.get_xticklabels(), idx):
                if y[t] != y_clean[t]:
                    tl.set_color("#d62728")
                    tl.set_fontweight("bold")
            ax.tick_params(axis="x", length=0, pad=1)
            ax.set_yticks([])
            ax.grid(False)
            for sp in ax.spines.values():
                sp.set_visible(False)
            if j == 0:
                ax.set_ylabel(
                    name, rotation=0, ha="right", va="center", fontsize=8, color=method_color(name.split(" · ")[0])
                )
            if i == 0:
                ax.set_title(f"kept first (top {k})" if side == "kept" else f"removed first (top {k})", fontsize=9)
    fig.suptitle("training label above each image\n(red: flipped label, clean label in parentheses)", fontsize=7)
    save_figure(fig, out_pdf, out_png)

"""Cross-architecture transfer: scores of one architecture select the subset another trains on.

:func:`crossarch_gain`: the accuracy gain over ``random`` when the subset is chosen with surrogate A and
retrained with target B, paired by seed; :func:`plot_crossarch_heatmap` draws it as A × B heatmaps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..plots.common import PathLike, panel_groups, panel_title, pct_removed, read_frame
from ..plots.style import new_figure, save_figure
from ..stats import method_key
from .common import GROUP_KEYS, read_retrain, sort_rows, write_table
from .registry import figure, register_study, table

GAIN_COLUMNS = [
    *GROUP_KEYS,
    "scorer",
    "strategy",
    "method",
    "ratio",
    "gain_mean",
    "gain_std",
    "n_seeds",
    "acc_mean",
    "random_mean",
    "random_arch",
]


def crossarch_gain(retrain_df: pd.DataFrame, baseline: str = "random") -> pd.DataFrame:
    """Accuracy gain over ``baseline`` per (scoring arch A, target B, ratio, method), paired by seed.

    For every seed s: gain_s = acc(method, A→B, ratio, s) − acc(random, A→B, ratio, s); the table
    holds mean and sample std (ddof 1; NaN for one seed) over the seeds present in both. Random
    pruning reads no surrogate, so when no random run exists under surrogate A for target B the
    random runs of the same target under any other surrogate are used (per-seed mean; ``random_arch``
    names them), else the row is dropped. Full-data rows and the baseline itself are not listed.
    """
    df = retrain_df.copy()
    df["ratio"] = df["ratio"].astype(float).round(6)
    keys = [k for k in GROUP_KEYS if k in df.columns]
    setting = [*keys, "ratio", "seed"]
    base = df[df["scorer"] == baseline]
    meth = df[~df["scorer"].isin([baseline, "full"]) & (df["ratio"] > 0)]
    if meth.empty or base.empty:
        return pd.DataFrame(columns=GAIN_COLUMNS)
    b_same = base.groupby(setting, sort=True)["accuracy"].mean().rename("random_acc").reset_index()
    b_same["random_arch"] = b_same["arch"]
    other = [k for k in setting if k != "arch"]
    b_any = base.groupby(other, sort=True).agg(
        random_acc=("accuracy", "mean"), random_arch=("arch", lambda a: "|".join(sorted(set(a))))
    )
    b_any = b_any.reset_index()
    m = meth.merge(b_same, on=setting, how="left")
    miss = m["random_acc"].isna()
    if miss.any():
        alt = m.loc[miss, meth.columns].merge(b_any, on=other, how="inner")
        m = pd.concat([m[~miss], alt], ignore_index=True)
    m["gain"] = m["accuracy"] - m["random_acc"]
    g = m.groupby([*keys, "scorer", "strategy", "ratio"], sort=True)
    out = g.agg(
        gain_mean=("gain", "mean"),
        gain_std=("gain", "std"),
        n_seeds=("gain", "count"),
        acc_mean=("accuracy", "mean"),
        random_mean=("random_acc", "mean"),
        random_arch=("random_arch", lambda a: "|".join(sorted(set(a)))),
    ).reset_index()
    out["method"] = [method_key(s, t) for s, t in zip(out["scorer"], out["strategy"])]
    return sort_rows(out[[c for c in GAIN_COLUMNS if c in out.columns]], [*keys, "scorer", "strategy", "ratio"])


def transfer_settings(gain_df: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`crossarch_gain` that belong to a cross-architecture grid: (method, ratio)
    settings retrained under more than one (scoring arch, target) pair. The head-to-head sweep's
    A = B runs of every other method and ratio would be 1 × 1 panels of the heatmap grid."""
    if gain_df.empty:
        return gain_df
    keys = [k for k in ("exp", "dataset", "noise", "method", "ratio") if k in gain_df.columns]
    pair = gain_df["arch"].astype(str) + "→" + gain_df["target"].astype(str)
    n_pairs = pair.groupby([gain_df[k] for k in keys]).transform("nunique")
    return gain_df[n_pairs > 1].reset_index(drop=True)


def plot_crossarch_heatmap(gain_df, out_pdf: PathLike, out_png: PathLike, *, methods=None) -> None:
    """Grid of heatmaps of the accuracy gain over random (percentage points, mean over seeds;
    :func:`crossarch_gain`): rows of a heatmap = surrogate (scoring)
    architecture A, columns = retraining architecture B; one panel per (method, ratio) (rows of the
    grid = methods, columns = ratios; dataset / noise added to the titles when several). Diverging
    colormap centred at 0 on one symmetric scale shared by all panels (blue = better than random),
    each cell annotated with its value; the diagonal (A = B) is outlined."""
    import seaborn as sns
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    d = read_frame(gain_df)
    if methods is not None:
        d = d[d["method"].isin(list(methods))]
    archs = sorted(set(d["arch"]) | set(d["target"]))
    a_list = [a for a in archs if a in set(d["arch"])]
    b_list = [b for b in archs if b in set(d["target"])]
    ratios = sorted(d["ratio"].unique())
    outer = panel_groups(d, ["exp", "dataset", "noise"], always=["method"])
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
            ax.set_title(f"{method} · {pct_removed(r)}" + (f"\n{panel_title(rest)}" if rest else ""))
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


def run(inputs, out):
    df = crossarch_gain(read_retrain(inputs[0]))
    write_table(df, out["table"])
    plot_crossarch_heatmap(transfer_settings(df), out["pdf"], out["png"])


STUDY = register_study(
    "crossarch", run,
    outputs=[table("table", "crossarch_gain.csv"),
             figure("pdf", "crossarch_gain.pdf", category="Cross-architecture", caption='Cross-architecture transfer: scores from a surrogate of architecture A (rows) select the subset that trains\narchitecture B (columns); each cell is the accuracy gain over random selection at the same ratio (paired by\nseed, mean over seeds). Positive = the scores transfer.'),
             figure("png", "crossarch_gain.png")],
    inputs=lambda files, w=None: {"table": files.table("retrain.csv")},
    targets=lambda files: [files.figure("crossarch_gain.pdf")],
)

"""The lossless ratio: the largest fraction removed whose accuracy stays within one std of full data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..plots.common import PathLike, panel_groups, panel_title, read_frame
from ..plots.style import method_color, new_figure, save_figure
from ..stats import method_key
from .common import GROUP_KEYS, read_retrain, write_table
from .registry import figure, register_study, table

LOSSLESS_COLUMNS = [
    *GROUP_KEYS,
    "scorer",
    "strategy",
    "method",
    "lossless_ratio",
    "lossless_ratio_contiguous",
    "full_mean",
    "full_std",
    "threshold",
    "n_ratios",
    "max_ratio",
    "ratios_tested",
    "ratios_passed",
]


def _full_reference(df: pd.DataFrame) -> pd.DataFrame:
    """Full-data mean/std/n over seeds per (exp, dataset, noise, arch, target); a target with no
    reference under surrogate arch A borrows the one trained under any arch (full-data training
    does not depend on the surrogate): mean of those rows per seed."""
    keys = [k for k in GROUP_KEYS if k in df.columns]
    full = df[df["scorer"] == "full"]
    if full.empty:
        return pd.DataFrame(columns=[*keys, "full_mean", "full_std", "full_n"])
    g = full.groupby(keys, sort=True)["accuracy"]
    ref = g.agg(full_mean="mean", full_std="std", full_n="count").reset_index()
    # borrowed references for (arch, target) pairs that have pruned rows but no full rows
    wanted = df[df["scorer"] != "full"][keys].drop_duplicates()
    missing = wanted.merge(ref[keys], on=keys, how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"].drop(columns="_merge")
    if len(missing):
        other = [k for k in keys if k != "arch"]
        per_seed = full.groupby([*other, "seed"], sort=True)["accuracy"].mean().reset_index()
        alt = per_seed.groupby(other, sort=True)["accuracy"].agg(full_mean="mean", full_std="std", full_n="count")
        borrowed = missing.merge(alt.reset_index(), on=other, how="inner")
        ref = pd.concat([ref, borrowed], ignore_index=True)
    return ref


def lossless_ratio(retrain_df: pd.DataFrame, k_std: float = 1.0) -> pd.DataFrame:
    """Largest pruning ratio at which a method is "lossless": mean accuracy over seeds
    ≥ full_mean − k_std · full_std, with full_mean / full_std the mean and sample std (ddof 1) of the
    full-data reference over seeds (std taken as 0 with one seed).

    ``lossless_ratio``: the largest tested ratio that passes (0.0 when none does: only full data is
    lossless). ``lossless_ratio_contiguous``: the largest r such that *every* tested ratio ≤ r passes
    (guards against a lucky high ratio after a failing lower one). ``ratios_tested`` /
    ``ratios_passed``: the ratios as ``;``-separated text (``"0.3;0.5"``). Per (exp, dataset, noise, arch,
    target, scorer, strategy); the full reference is matched on (exp, dataset, noise, arch, target)
    and borrowed from another surrogate arch with the same target if absent (see :func:`_full_reference`).
    """
    df = retrain_df.copy()
    df["ratio"] = df["ratio"].astype(float).round(6)
    keys = [k for k in GROUP_KEYS if k in df.columns]
    ref = _full_reference(df)
    meth = df[(df["scorer"] != "full") & (df["ratio"] > 0)]
    if meth.empty or ref.empty:
        return pd.DataFrame(columns=LOSSLESS_COLUMNS)
    mean = meth.groupby([*keys, "scorer", "strategy", "ratio"], sort=True)["accuracy"].mean().rename("acc")
    mean = mean.reset_index().merge(ref, on=keys, how="inner")
    mean["threshold"] = mean["full_mean"] - k_std * mean["full_std"].fillna(0.0)
    mean["ok"] = mean["acc"] >= mean["threshold"] - 1e-12
    rows = []
    for key, g in mean.groupby([*keys, "scorer", "strategy"], sort=True):
        g = g.sort_values("ratio")
        ok = g["ok"].to_numpy()
        r = g["ratio"].to_numpy(np.float64)
        lossless = float(r[ok].max()) if ok.any() else 0.0
        n_prefix = int(np.argmin(ok)) if not ok.all() else len(ok)
        contiguous = float(r[n_prefix - 1]) if n_prefix > 0 else 0.0
        d = dict(zip([*keys, "scorer", "strategy"], key))
        rows.append(
            {
                **d,
                "method": method_key(d["scorer"], d["strategy"]),
                "lossless_ratio": lossless,
                "lossless_ratio_contiguous": contiguous,
                "full_mean": float(g["full_mean"].iloc[0]),
                "full_std": float(g["full_std"].iloc[0]),
                "threshold": float(g["threshold"].iloc[0]),
                "n_ratios": len(g),
                "max_ratio": float(r.max()),
                "ratios_tested": ";".join(f"{v:g}" for v in r),
                "ratios_passed": ";".join(f"{v:g}" for v in r[ok]),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *LOSSLESS_COLUMNS[5:]])


def _ratio_list(text) -> list[float]:
    if not isinstance(text, str) or not text:
        return []
    return [float(v) for v in text.split(";")]


def plot_lossless(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Largest tested fraction removed whose mean accuracy stays within one std of full data
    (:func:`lossless_ratio`): bar = largest passing ratio; each tested
    ratio is marked on the method's row, filled where the method is within one std of full data there,
    open where it is not. One panel per (dataset, noise, surrogate → target); the title gives the
    full-data accuracy (mean ± std over seeds, %)."""
    from matplotlib.lines import Line2D

    d = read_frame(df)
    panels = panel_groups(d, ["exp", "dataset", "arch", "target"], always=["noise"])
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
        ax.set_title(f"{panel_title(key)}\nfull data {100 * full:.1f} ± {100 * np.nan_to_num(sd):.1f} %")
    handles = [
        Line2D([], [], color="0.6", lw=6, label="largest passing ratio"),
        Line2D([], [], marker="o", ls="", mfc="black", mec="black", label="within 1 std at this ratio"),
        Line2D([], [], marker="o", ls="", mfc="white", mec="black", label="below"),
    ]
    fig.legend(
        handles=handles, loc="outside lower center", ncols=3 if len(panels) > 1 else 1, fontsize=7, frameon=False
    )
    save_figure(fig, out_pdf, out_png)


def run(inputs, out, k_std: float = 1.0):
    df = lossless_ratio(read_retrain(inputs[0]), k_std=k_std)
    write_table(df, out["table"])
    plot_lossless(df, out["pdf"], out["png"])


STUDY = register_study(
    "lossless", run,
    outputs=[table("table", "lossless_ratio.csv"),
             figure("pdf", "lossless_ratio.pdf", category="Head-to-head", caption='The "lossless ratio": the largest pruning ratio whose mean accuracy stays within one standard deviation (over\nseeds) of full-data training, per method; dots mark each tested ratio as passing or not. Coarse with a coarse\nratio grid.'),
             figure("png", "lossless_ratio.png")],
    inputs=lambda files, w=None: {"table": files.table("retrain.csv")},
    targets=lambda files: [files.figure("lossless_ratio.pdf")],
)

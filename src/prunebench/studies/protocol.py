"""The protocol study: every method under its authors' protocol and under the uniform one.

The *release* protocol is what the registry declares for the method (its selection rule,
the view its scores are read on, its parameter values: :class:`prunebench.scorers.Protocol`);
the *uniform* protocol is global top-k in the method's direction on scores read in the
training pass with the registered defaults. Both are retrained with the same seeds, so the
difference is paired by seed; each protocol is also compared with random under the same
protocol (random per class, as DeepCore's uniform, vs random over the whole set).

This module holds the study's table, its figure and its ``prunebench analyze protocol`` kind.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import io
from ..stats import holm, method_key, paired_t
from .registry import figure, register_study, table

SETTING = ("dataset", "noise", "arch", "target", "ratio")
ALPHA = 0.05


def _per_seed(df: pd.DataFrame, scorer: str, strategy: str, setting: dict) -> pd.Series:
    m = (df["scorer"] == scorer) & (df["strategy"] == strategy)
    for k, v in setting.items():
        m &= df[k] == v
    return df[m].set_index("seed")["accuracy"]


def _paired(a: pd.Series, b: pd.Series) -> tuple[float, float, int]:
    seeds = sorted(set(a.index) & set(b.index))
    if not seeds:
        return math.nan, math.nan, 0
    d = a.loc[seeds].to_numpy(np.float64) - b.loc[seeds].to_numpy(np.float64)
    p = paired_t(d)[0] if len(d) >= 2 else math.nan
    return float(d.mean()), float(p), len(d)


def _empty(df: pd.DataFrame, scorer: str, strategy: str, setting: dict) -> int:
    if "empty_classes" not in df.columns:
        return 0
    m = (df["scorer"] == scorer) & (df["strategy"] == strategy)
    for k, v in setting.items():
        m &= df[k] == v
    return int(df.loc[m, "empty_classes"].max()) if m.any() else 0


def _verdict(diff: float, p_holm: float) -> str:
    if not p_holm <= ALPHA:
        return "not significant"
    return "better" if diff > 0 else "worse"


def protocol_frame(retrain: pd.DataFrame, pairs: list[list[str]], reference: str = "random") -> pd.DataFrame:
    """One row per (setting, method): accuracy under the release and the uniform protocol, their paired
    difference (t-test over seeds), and each protocol's gain over ``reference`` run under the same
    protocol, with Holm-adjusted p over all the table's comparisons with the reference.

    ``pairs``: ``[method, protocol, scorer, strategy]`` rows (:func:`prunebench.plan.protocol_pairs`)."""
    df = retrain.copy()
    df["ratio"] = df["ratio"].astype(float).round(6)
    by = {}
    for method, proto, scorer, strategy in pairs:
        by.setdefault(method, {})[proto] = (scorer, strategy)
    ref = by.get(reference, {})
    rows = []
    settings = df[df["ratio"] > 0][list(SETTING)].drop_duplicates().sort_values(list(SETTING))
    for setting in settings.to_dict("records"):
        for method, protos in sorted(by.items()):
            if "release" not in protos or "uniform" not in protos:
                continue
            a = _per_seed(df, *protos["release"], setting)
            b = _per_seed(df, *protos["uniform"], setting)
            if a.empty or b.empty:
                continue
            diff, p_diff, n = _paired(a, b)
            row = {**setting, "method": method,
                   "release": method_key(*protos["release"]), "uniform": method_key(*protos["uniform"]),
                   "identical": protos["release"] == protos["uniform"], "n_seeds": n,
                   "acc_release": float(a.mean()), "acc_uniform": float(b.mean()),
                   "diff": diff, "p_diff": p_diff,
                   "empty_classes_release": _empty(df, *protos["release"], setting),
                   "empty_classes_uniform": _empty(df, *protos["uniform"], setting)}
            for proto in ("release", "uniform"):
                r = _per_seed(df, *ref[proto], setting) if proto in ref else pd.Series(dtype=float)
                gain, p, _ = _paired(a if proto == "release" else b, r) if method != reference else (
                    math.nan, math.nan, 0)
                row[f"gain_{proto}"], row[f"p_{proto}"] = gain, p
            rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    # Holm over every comparison with random in the table (both protocols), and over the differences
    ps = np.concatenate([out["p_release"].to_numpy(), out["p_uniform"].to_numpy()])
    ok = np.isfinite(ps)
    adj = np.full(ps.shape, math.nan)
    adj[ok] = holm(ps[ok])
    n = len(out)
    out["p_holm_release"], out["p_holm_uniform"] = adj[:n], adj[n:]
    pd_ = out["p_diff"].to_numpy()
    okd = np.isfinite(pd_) & ~out["identical"].to_numpy()
    adjd = np.full(pd_.shape, math.nan)
    adjd[okd] = holm(pd_[okd])
    out["p_holm_diff"] = adjd
    out["verdict_release"] = [_verdict(g, p) for g, p in zip(out["gain_release"], out["p_holm_release"])]
    out["verdict_uniform"] = [_verdict(g, p) for g, p in zip(out["gain_uniform"], out["p_holm_uniform"])]
    out["verdict_changes"] = out["verdict_release"] != out["verdict_uniform"]
    return out


def plot_protocol(df: pd.DataFrame, out_pdf: str, out_png: str) -> None:
    """Gain over random (same protocol) per method: release protocol vs uniform, one panel per setting."""
    from ..plots.style import new_figure, save_figure

    d = df[df["method"] != "random"].copy()
    d["setting"] = [f"{r.dataset} {r.noise} {r.arch}→{r.target}\n{r.ratio:.0%} removed" for r in d.itertuples()]
    settings = sorted(d["setting"].unique()) or ["(no setting)"]
    methods = sorted(d["method"].unique())
    ncols = min(3, len(settings))
    fig, axes = new_figure(len(settings), ncols=ncols, panel_size=(3.6, max(2.6, 0.28 * len(methods) + 0.8)))
    y = np.arange(len(methods))
    for ax, setting in zip(axes, settings):
        sub = d[d["setting"] == setting].set_index("method").reindex(methods)
        for off, proto, color in ((-0.2, "release", "#1f77b4"), (0.2, "uniform", "#bbbbbb")):
            g = 100 * sub[f"gain_{proto}"].to_numpy(np.float64)
            ax.barh(y + off, np.nan_to_num(g), height=0.38, color=color, label=f"{proto} protocol")
            sig = (sub[f"p_holm_{proto}"] <= ALPHA).to_numpy()
            for yi, gi, s in zip(y + off, g, sig):
                if s and np.isfinite(gi):
                    ax.text(gi, yi, " *", va="center", fontsize=8)
        empty = (sub["empty_classes_release"].fillna(0) > 0) | (sub["empty_classes_uniform"].fillna(0) > 0)
        labels = [m + (" (empty class)" if e else "") for m, e in zip(methods, empty)]
        ax.set_yticks(y, labels, fontsize=7)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(setting, fontsize=8)
        ax.set_xlabel("accuracy − random's, same protocol (points)", fontsize=7)
        ax.invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    save_figure(fig, out_pdf, out_png)


def protocol(inputs, out, pairs: list | None = None, reference: str = "random"):
    """Release vs uniform protocol per method → tables/protocol.csv, figures/protocol.{pdf,png}."""
    df = protocol_frame(pd.read_csv(inputs[0]), pairs or [], reference)
    io.write_dataframe(out["table"], df)
    plot_protocol(df, out["pdf"], out["png"])


STUDY = register_study(
    "protocol", protocol,
    outputs=[table("table", "protocol.csv"),
             figure("pdf", "protocol.pdf", category="Head-to-head", caption='Each method under its authors\' protocol ("release": the selection rule, the view its scores are read on and the\nparameter values its release uses, as declared in the scorer registry and cited in the README\'s protocol table)\nand under the uniform protocol (global top-k in the method\'s direction, scores read on the training pass with the\nregistered defaults). Bars: mean accuracy minus random\'s under the same protocol (random per class for the\nrelease protocol, as DeepCore\'s uniform; random over the whole set for the uniform one), paired by seed; * = Holm-\nadjusted paired t-test p ≤ 0.05 over all the table\'s comparisons with random. "(empty class)" marks a method whose\nsubsets left a class without samples. tables/protocol.csv also has the paired release − uniform difference and\nwhether the verdict against random changes.'),
             figure("png", "protocol.png")],
    inputs=lambda files, w=None: {"table": files.table("retrain.csv")},
    options=lambda files, w=None: {"pairs": files.protocol_pairs_all()},
    targets=lambda files: ([files.figure("protocol.pdf"), files.figure("protocol.png")]
                           if files.protocol_pairs_all() else []),
)

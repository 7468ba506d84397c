"""Class imbalance: pruning a long-tailed training set (sweep key ``imbalance``).

:func:`imbalance_table`: what pruning does to the rare classes (tail accuracy, balanced accuracy, the tail's
kept share against the whole set's), from the per-run result JSONs; :func:`plot_imbalance` draws it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import io, paths
from ..plots.common import (
    PathLike,
    line_band,
    method_handles,
    method_order,
    outside_legend,
    panel_groups,
    panel_title,
    read_frame,
)
from ..plots.style import method_color, new_figure, save_figure
from ..stats import method_key
from .common import as_paths, sort_rows, split_inputs, write_table
from .registry import figure, register_study, table

IMBALANCE_COLUMNS = [
    "exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "method", "n_seeds",
    "acc_mean", "acc_std", "balanced_acc_mean", "balanced_acc_std", "head_acc_mean", "head_acc_std",
    "tail_acc_mean", "tail_acc_std", "kept_frac", "tail_kept_frac", "tail_kept_vs_random", "tail_classes",
]  # fmt: skip


def tail_classes(counts) -> list[int]:
    """The rarer half of the classes (``floor(C/2)`` classes with the fewest training samples; ties
    broken by class index, higher = rarer, as in the long-tail profile)."""
    counts = np.asarray(counts)
    order = sorted(range(len(counts)), key=lambda c: (counts[c], -c))
    return sorted(order[: len(counts) // 2])


def imbalance_table(retrain_files) -> pd.DataFrame:
    """Per-class view of retraining on long-tailed (and, for comparison, balanced) training sets.

    ``retrain_files``: per-run result JSONs (``class_counts`` of the kept subset and ``class_accuracy``
    on the balanced test set), including each (dataset, noise, target)'s ``full`` run, whose class
    counts are the training set's. Tail classes: :func:`tail_classes` of the most imbalanced training
    set among the inputs (the same class ids for every dataset, so a balanced set's row shows how the
    same classes fare without imbalance). Per setting, over seeds: accuracy, balanced accuracy (mean of
    the per-class accuracies), head / tail accuracy (mean over those classes), the fraction of the
    training set kept, the fraction of the tail classes' samples kept, and their ratio
    ``tail_kept_vs_random`` (1 = the tail keeps its share, as under random pruning in expectation; < 1 =
    the method prunes the rare classes harder)."""
    runs = []
    for p in as_paths(retrain_files):
        k = paths.parse(p, "retrain")
        r = io.read_json(p)
        if "class_accuracy" not in r or "class_counts" not in r:
            raise ValueError(f"{p}: no per-class results (class_accuracy, class_counts); rerun its retrain job")
        runs.append({**k, "class_counts": np.asarray(r["class_counts"], dtype=np.int64),
                     "class_accuracy": np.asarray([np.nan if v is None else v for v in r["class_accuracy"]],
                                                  dtype=np.float64),
                     "accuracy": float(r["test_accuracy"])})
    if not runs:
        return pd.DataFrame(columns=IMBALANCE_COLUMNS)
    train_counts = {}
    for r in runs:
        if r["scorer"] == "full":
            train_counts[(r["exp"], r["dataset"], r["noise"], r["target"])] = r["class_counts"]
    if not train_counts:
        raise ValueError("imbalance: no full-data run among the inputs (its class counts are the training set's)")
    most = max(train_counts.values(), key=lambda c: (c.max() / max(c.min(), 1), c.sum()))
    tail = tail_classes(most)
    head = [c for c in range(len(most)) if c not in set(tail)]
    rows = []
    for r in runs:
        key = (r["exp"], r["dataset"], r["noise"], r["target"])
        if key not in train_counts:
            raise ValueError(f"imbalance: no full-data run for {key}")
        n_c = train_counts[key]
        acc_c = r["class_accuracy"]
        rows.append({
            **{c: r[c] for c in ("exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "seed")},
            "method": method_key(r["scorer"], r["strategy"]), "accuracy": r["accuracy"],
            "balanced_acc": float(np.nanmean(acc_c)), "head_acc": float(np.nanmean(acc_c[head])),
            "tail_acc": float(np.nanmean(acc_c[tail])), "kept_frac": r["class_counts"].sum() / n_c.sum(),
            "tail_kept_frac": r["class_counts"][tail].sum() / max(n_c[tail].sum(), 1),
        })  # fmt: skip
    df = pd.DataFrame(rows)
    keys = ["exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "method"]
    g = df.groupby(keys, sort=True)
    out = g.agg(
        n_seeds=("seed", "nunique"), acc_mean=("accuracy", "mean"), acc_std=("accuracy", "std"),
        balanced_acc_mean=("balanced_acc", "mean"), balanced_acc_std=("balanced_acc", "std"),
        head_acc_mean=("head_acc", "mean"), head_acc_std=("head_acc", "std"),
        tail_acc_mean=("tail_acc", "mean"), tail_acc_std=("tail_acc", "std"),
        kept_frac=("kept_frac", "mean"), tail_kept_frac=("tail_kept_frac", "mean"),
    ).reset_index()  # fmt: skip
    out["tail_kept_vs_random"] = out["tail_kept_frac"] / out["kept_frac"]
    out["tail_classes"] = ";".join(map(str, tail))
    return sort_rows(out[IMBALANCE_COLUMNS], keys[:-1])


def plot_imbalance(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Pruning a long-tailed training set (:func:`imbalance_table`). One row
    per (dataset, noise, surrogate → target); columns: test accuracy on the tail classes, balanced
    test accuracy (mean over classes), and the tail's kept share relative to the whole set's
    (``tail_kept_vs_random``: 1 = random pruning's expectation, dashed; below 1 = the method prunes the
    rare classes harder). Lines = methods (mean ± std over seeds); dotted black = full data."""
    from matplotlib.lines import Line2D

    d = read_frame(df)
    full = d[d["scorer"] == "full"]
    d = d[(d["scorer"] != "full") & (d["ratio"] > 0)]
    methods = method_order(d["method"].unique())
    rows = panel_groups(d, ["exp", "dataset", "noise", "arch", "target"], always=["dataset"])
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
                    line_band(ax, s["ratio"], s[col], sd, method_color(m))
            if sd_col is None:
                ax.axhline(1.0, color="0.45", ls="--", lw=1.0)
            elif len(f):
                ax.axhline(float(f[col].mean()), color="black", ls=":", lw=1.0)
            ax.set_title(f"{label}\n{panel_title(key)}", fontsize=8)
            ax.set_xlabel("fraction of training set removed")
            ax.set_xticks(sorted({0.0, *g["ratio"].tolist()}))
    handles = method_handles(methods) + [Line2D([], [], color="black", ls=":", label="full data"),
                                          Line2D([], [], color="0.45", ls="--", label="random (expected)")]
    outside_legend(fig, handles, title=f"method\n(tail classes: {tail})")
    save_figure(fig, out_pdf, out_png)


def run(inputs, out):
    df = imbalance_table(split_inputs(inputs)["retrain"])
    write_table(df, out["table"])
    plot_imbalance(df, out["pdf"], out["png"])


def _targets(files) -> list[str]:
    from ..plan import long_tail_datasets

    return [files.figure("imbalance.pdf")] if long_tail_datasets(files.cfg) else []


STUDY = register_study(
    "imbalance", run,
    outputs=[table("table", "imbalance.csv"),
             figure("pdf", "imbalance.pdf", category="Ablations", caption="Pruning a long-tailed training set (sweep key ``imbalance``: the configured dataset with class c cut to\nn_max · ρ^(−c/(C−1)) samples, the CIFAR-LT profile; the test set stays balanced). Per method and fraction\nremoved (mean ± std over seeds): test accuracy on the tail classes (the rarer half, listed in the legend),\nbalanced test accuracy (mean over classes), and the tail's kept share divided by the whole set's kept share\n(dashed 1 = what random pruning keeps in expectation; below 1 the method prunes the rare classes harder).\nRows on the dataset as prepared show the same classes without imbalance. Table: ``tables/imbalance.csv``."),
             figure("png", "imbalance.png")],
    inputs=lambda files, w=None: {"files": files.imbalance_inputs()},
    targets=_targets,
)

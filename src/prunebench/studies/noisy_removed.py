"""Label noise: the share of the flipped (mislabelled) training samples each method removes.

:func:`noisy_removed` reads ``flipped`` (evaluation only, never fed back to a scorer); random pruning
removes a ``ratio`` share of the flipped samples in expectation, the y = x line of
:func:`plot_noisy_removed`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import io, paths
from ..plots.common import (
    PathLike,
    line_band,
    mean_sd,
    method_handles,
    method_order,
    outside_legend,
    panel_groups,
    panel_title,
    read_frame,
)
from ..plots.style import method_color, new_figure, save_figure
from ..stats import method_key
from .common import SUBSET_KEYS, as_paths, labels_by_setting, sort_rows, split_inputs, write_table
from .registry import figure, register_study, table

NOISY_COLUMNS = [
    *SUBSET_KEYS,
    "method",
    "ratio",
    "seed",
    "n_train",
    "n_flipped",
    "n_removed",
    "n_flipped_removed",
    "frac_flipped_removed",
    "frac_removed",
    "precision",
    "enrichment",
]


def noisy_removed(subset_files, labels_files) -> pd.DataFrame:
    """Share of the flipped (mislabeled) training samples each subset removes.

    ``subset_files``: subset paths (``.../{noise}/subsets/{arch}/{scorer}/{strategy}/r{ratio}/seed{s}.npy``;
    sorted kept indices). ``labels_files``: the ``labels.npz`` of each (exp, dataset, noise) involved
    (one path, a list, or a mapping with paths as values). Subsets whose labels file flips nothing
    (``clean``) and ratio-0 (full data) subsets are skipped.

    Per subset: ``frac_flipped_removed`` = |removed ∩ flipped| / |flipped| (recall of the noise);
    ``frac_removed`` = |removed| / n, which is what uniform random pruning removes of the flipped
    samples in expectation (the y = x reference); ``precision`` = |removed ∩ flipped| / |removed|;
    ``enrichment`` = frac_flipped_removed / frac_removed (1 = no better than random).
    """
    labels = labels_by_setting(labels_files)
    rows = []
    for p in as_paths(subset_files):
        k = paths.parse(p, "subset")
        key = (k["exp"], k["dataset"], k["noise"])
        if key not in labels:
            raise ValueError(f"{p}: no labels file given for {key}")
        flipped = np.asarray(labels[key]["flipped"], dtype=bool)
        n = flipped.size
        n_flipped = int(flipped.sum())
        if n_flipped == 0 or k["ratio"] <= 0:
            continue
        kept = np.asarray(io.load_npy(p), dtype=np.int64)
        if kept.size and (kept.min() < 0 or kept.max() >= n):
            raise ValueError(f"{p}: kept index out of range 0..{n - 1}")
        removed = np.ones(n, dtype=bool)
        removed[kept] = False
        n_removed = int(removed.sum())
        hit = int((removed & flipped).sum())
        frac_removed = n_removed / n
        recall = hit / n_flipped
        rows.append({
            **{c: k[c] for c in ("exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "seed")},
            "method": method_key(k["scorer"], k["strategy"]), "n_train": n, "n_flipped": n_flipped,
            "n_removed": n_removed, "n_flipped_removed": hit, "frac_flipped_removed": recall,
            "frac_removed": frac_removed, "precision": hit / n_removed if n_removed else math.nan,
            "enrichment": recall / frac_removed if frac_removed > 0 else math.nan,
        })  # fmt: skip
    df = pd.DataFrame(rows, columns=NOISY_COLUMNS)
    return sort_rows(df, ["exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "seed"])


def plot_noisy_removed(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Fraction of the flipped (mislabeled) training samples removed vs fraction of the training set
    removed, per method (mean ± std over seeds; :func:`noisy_removed`).
    Dashed y = x: uniform random pruning's expectation. Above it: the method removes mislabeled
    samples preferentially; below: it keeps them (typical for "keep hard" scores). One panel per
    (dataset, noise, surrogate arch)."""
    from matplotlib.lines import Line2D

    d = read_frame(df)
    d = d[d["ratio"] > 0]
    methods = method_order(d["method"].unique())
    panels = panel_groups(d, ["exp", "dataset", "arch"], always=["noise"])
    fig, axes = new_figure(len(panels), ncols=min(3, len(panels)), panel_size=(3.2, 3.0))
    for ax, (key, g) in zip(axes, panels):
        ax.plot([0, 1], [0, 1], ls="--", color="0.45", lw=1.0, zorder=1)
        x = mean_sd(g, ["method", "ratio"], "frac_removed")
        y = mean_sd(g, ["method", "ratio"], "frac_flipped_removed")
        for m in methods:
            xs = x[x["method"] == m].sort_values("ratio")
            ys = y[y["method"] == m].sort_values("ratio")
            if len(xs):
                line_band(ax, xs["mean"], ys["mean"], ys["sd"], method_color(m))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_aspect("equal", adjustable="box")
        n_flip = int(g["n_flipped"].iloc[0]) if "n_flipped" in g.columns and len(g) else 0
        ax.set_title(f"{panel_title(key)}  ({n_flip} flipped labels)")
        ax.set_xlabel("fraction of training set removed")
        ax.set_ylabel("fraction of flipped labels removed")
    handles = method_handles(methods) + [Line2D([], [], ls="--", color="0.45", label="random (expected)")]
    outside_legend(fig, handles, title="method")
    save_figure(fig, out_pdf, out_png)


def run(inputs, out):
    parts = split_inputs(inputs)
    df = noisy_removed(parts["subset"], parts["labels"])
    write_table(df, out["table"])
    plot_noisy_removed(df, out["pdf"], out["png"])


STUDY = register_study(
    "noisy_removed", run,
    outputs=[table("table", "noisy_removed.csv"),
             figure("pdf", "noisy_removed.pdf", category="Label noise", caption='Share of the flipped (mislabelled) training samples that each method removes at each pruning ratio; the dashed\nline y = x is what random removal removes in expectation. Above the line a method removes label noise\npreferentially; below it, it keeps the noise (methods that keep "hard" samples do).'),
             figure("png", "noisy_removed.png")],
    inputs=lambda files, w=None: {"files": files.noisy_inputs()},
    targets=lambda files: ([files.figure("noisy_removed.pdf")]
                           if any(st["noise"] != "clean" for st in files.retrain) else []),
)

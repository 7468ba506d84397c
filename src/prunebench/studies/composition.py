"""What each method keeps: the per-class composition of its subsets and the samples it keeps and removes
first (seed 0).

:func:`class_composition`: per-class counts of the kept subsets (does a method starve classes?), drawn by
:func:`plot_class_composition`; :func:`plot_sample_grid`: the images each method keeps first and removes
first (:func:`extreme_samples`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io, paths
from ..plots.common import PathLike, method_order, outside_legend, panel_groups, panel_title, pct_removed, read_frame
from ..plots.style import method_color, new_figure, save_figure
from ..stats import method_key
from .common import SUBSET_KEYS, as_paths, labels_by_setting, sort_rows, split_inputs, write_table
from .registry import figure, register_study, table

COMPOSITION_COLUMNS = [
    *SUBSET_KEYS,
    "method",
    "ratio",
    "seed",
    "class",
    "count",
    "n_kept",
    "share",
    "share_full",
]


def class_composition(subset_files, labels_file, seeds: Iterable[int] | None = (0,)) -> pd.DataFrame:
    """Per-class counts of each kept subset, by its *training* labels (the labels the subset is
    retrained with; ``labels.npz`` ``y``): one row per (subset, class), all classes present in the
    training labels (count 0 included). ``share`` = count / n_kept; ``share_full`` = the class's share
    of the whole training set (the composition of random pruning in expectation).

    ``labels_file``: the labels path(s) of the (exp, dataset, noise) involved (as :func:`noisy_removed`).
    ``seeds``: the seeds kept (default seed 0; None = all)."""
    labels = labels_by_setting(labels_file)
    keep_seeds = None if seeds is None else {int(s) for s in seeds}
    rows = []
    for p in as_paths(subset_files):
        k = paths.parse(p, "subset")
        if keep_seeds is not None and k["seed"] not in keep_seeds:
            continue
        key = (k["exp"], k["dataset"], k["noise"])
        if key not in labels:
            raise ValueError(f"{p}: no labels file given for {key}")
        y = np.asarray(labels[key]["y"], dtype=np.int64)
        classes = np.unique(y)
        full = np.bincount(y, minlength=int(classes.max()) + 1)
        kept = np.asarray(io.load_npy(p), dtype=np.int64)
        counts = np.bincount(y[kept], minlength=full.size)
        n_kept = int(kept.size)
        for c in classes:
            rows.append(
                {
                    **{f: k[f] for f in ("exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "seed")},
                    "method": method_key(k["scorer"], k["strategy"]),
                    "class": int(c),
                    "count": int(counts[c]),
                    "n_kept": n_kept,
                    "share": counts[c] / n_kept if n_kept else math.nan,
                    "share_full": full[c] / y.size,
                }
            )
    df = pd.DataFrame(rows, columns=COMPOSITION_COLUMNS)
    return sort_rows(df, ["exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "seed", "class"])


def _class_colors(n: int):
    import seaborn as sns

    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "husl"
    return sns.color_palette(name, n)


def plot_class_composition(df, out_pdf: PathLike, out_png: PathLike) -> None:
    """Class composition of the kept subsets (:func:`class_composition`):
    stacked bars of each class's share of the kept subset (%, by training label; mean over the
    seeds in the table), one bar per method, one panel per fraction removed; the first bar
    ("all data") is the full training set (= random pruning in expectation). A class that shrinks
    relative to "all data" is pruned more than its share."""
    d = read_frame(df)
    d = d[(d["scorer"] != "full") & (d["ratio"] > 0)]
    classes = sorted(d["class"].unique())
    colors = dict(zip(classes, _class_colors(len(classes))))
    panels = panel_groups(d, ["exp", "dataset", "noise", "arch"], always=["ratio"])
    methods = method_order(d["method"].unique())
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
        ax.set_title(panel_title(key, {"ratio": pct_removed}))
    if len(classes) <= 20:
        from matplotlib.patches import Patch

        handles = [Patch(facecolor=colors[c], label=str(c)) for c in classes[::-1]]
        outside_legend(fig, handles, title="class")
    save_figure(fig, out_pdf, out_png)


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
    names = method_order(best)
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


def run(inputs, out):
    parts = split_inputs(inputs)
    df = class_composition(parts["subset"], parts["labels"][0])
    write_table(df, out["table"])
    plot_class_composition(df, out["pdf"], out["png"])
    data = [p for p in parts["npz"] if p.endswith("train.npz")][0]
    plot_sample_grid(parts["scores"], data, parts["labels"][0], out["grid_pdf"], out["grid_png"])


def _inputs(files, w=None) -> dict:
    scores, subsets, labels = files.main_inputs([0])
    return {"scores": scores, "subsets": subsets, "labels": labels,
            "train": paths.rule_path("data", "train.npz", dataset=files.dataset)}


STUDY = register_study(
    "composition", run,
    outputs=[table("table", "class_composition.csv"),
             figure("pdf", "class_composition.pdf", category="Subsets", caption="Per-class composition of each method's subsets (seed 0) against the full training set: methods that keep hard\nsamples can starve easy classes."),
             figure("png", "class_composition.png"),
             figure("grid_pdf", "sample_grid.pdf", category="Subsets", caption='The samples each method keeps first (left) and removes first (right), seed 0, with their training labels\n(a flipped label in red as "training (clean)").'),
             figure("grid_png", "sample_grid.png")],
    inputs=_inputs,
    targets=lambda files: [files.figure("class_composition.pdf")],
)

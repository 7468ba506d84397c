"""Rank agreement between methods: Spearman ρ of every pair of score files, and a
clustered heatmap of it (seaborn ``clustermap``), saved deterministically."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd


def spearman_matrix(columns: np.ndarray) -> np.ndarray:
    """Spearman ρ between the columns of an (n, m) array: Pearson correlation of the
    average ranks (ties share their mean rank). A constant column gives NaN off the
    diagonal; the diagonal is 1."""
    from scipy.stats import rankdata

    x = np.asarray(columns, dtype=np.float64)
    r = rankdata(x, axis=0)
    r = r - r.mean(axis=0)
    norm = np.sqrt((r * r).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (r.T @ r) / np.outer(norm, norm)
    rho = np.clip(rho, -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)
    return rho


def score_correlation(score_files: dict[str, str | os.PathLike], orient: bool = True) -> pd.DataFrame:
    """Spearman ρ between the scores of all methods (rows/columns in the given order).

    ``orient``: scores of ``keep: low`` methods are negated first, so ρ > 0 always
    means "the two methods agree on what to keep"."""
    from ..scorefile import read

    names, cols, n = [], [], None
    for name, path in score_files.items():
        s, meta = read(path, n=n)
        n = len(s)
        names.append(str(name))
        cols.append(-s if orient and meta["keep"] == "low" else s)
    if not cols:
        raise ValueError("score_correlation needs at least one score file")
    rho = spearman_matrix(np.stack(cols, axis=1))
    return pd.DataFrame(rho, index=pd.Index(names, name="method"), columns=pd.Index(names, name="method"))


def plot_correlation_heatmap(df: pd.DataFrame, out_pdf: str | os.PathLike | None,
                             out_png: str | os.PathLike | None, title: str | None = None):
    """Clustered heatmap (average linkage on 1 − ρ, NaN treated as ρ = 0) of a
    method × method correlation table; PDF and PNG with fixed metadata."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    from .style import apply_style, save_figure

    apply_style()
    rho = df.to_numpy(dtype=np.float64)
    m = len(df)
    link = None
    if m > 1:
        dist = 1.0 - np.nan_to_num(rho, nan=0.0)
        dist = (dist + dist.T) / 2.0
        np.fill_diagonal(dist, 0.0)
        link = linkage(squareform(np.clip(dist, 0.0, 2.0), checks=False), method="average")
    size = max(3.0, 0.45 * m + 2.0)
    g = sns.clustermap(df, row_linkage=link, col_linkage=link, row_cluster=link is not None,
                       col_cluster=link is not None, vmin=-1, vmax=1, center=0, cmap="vlag", annot=m <= 20,
                       fmt=".2f", annot_kws={"size": 6}, figsize=(size, size),
                       dendrogram_ratio=0.15, cbar_pos=(0.03, 0.865, 0.02, 0.1))
    g.ax_heatmap.set_xlabel("")
    g.ax_heatmap.set_ylabel("")
    g.ax_cbar.set_title("Spearman ρ", fontsize=7, loc="left")
    g.ax_cbar.tick_params(labelsize=6)
    if title:
        g.figure.text(0.99, 0.99, title, ha="right", va="top", fontsize=8)
    save_figure(g.figure, out_pdf, out_png)
    plt.close(g.figure)
    return g

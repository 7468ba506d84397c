"""What the study figures share: reading a table, grouping it into panels, method order, titles, mean ± std
bands and legends.

Every figure uses ``style.new_figure`` (seaborn theme, pyplot-free figure), ``style.method_color`` (one
colour per method in every figure) and ``style.save_figure`` (atomic; fixed metadata: identical inputs
give byte-identical PDF and PNG files). Means and stds are computed here from the tables (no seaborn
bootstrap, whose resampling would make the files depend on a random state).
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pandas as pd

from .style import method_color

PathLike = str | os.PathLike | None


def noise_sort_key(noise: str) -> tuple:
    """clean first, then by kind (sym, asym, ...) and rate: ``clean < sym20 < sym40 < asym20``."""
    m = re.match(r"^(clean|([a-z]+)(\d+))$", str(noise))
    if not m:
        return (2, str(noise), 0)
    if m.group(1) == "clean":
        return (0, "", 0)
    return (1, {"sym": "0", "asym": "1"}.get(m.group(2), m.group(2)), int(m.group(3)))


def read_frame(df_or_path) -> pd.DataFrame:
    """A copy of a table (DataFrame or CSV path) with ``ratio`` rounded to 6 decimals."""
    df = pd.read_csv(df_or_path) if isinstance(df_or_path, (str, os.PathLike)) else df_or_path.copy()
    if "ratio" in df.columns:
        df["ratio"] = df["ratio"].astype(float).round(6)
    return df


def method_order(methods) -> list[str]:
    """References first (full, random), then alphabetical."""
    methods = sorted(set(map(str, methods)))
    head = [m for m in ("full", "random") if m in methods]
    return head + [m for m in methods if m not in head]


def _varying(df: pd.DataFrame, keys) -> list[str]:
    return [k for k in keys if k in df.columns and df[k].nunique(dropna=False) > 1]


def panel_groups(df: pd.DataFrame, keys, always=()) -> list[tuple[dict, pd.DataFrame]]:
    """Split ``df`` by the ``keys`` that vary (plus ``always``); noise sorted clean → sym → asym by rate."""
    keys = list(dict.fromkeys([*_varying(df, keys), *always]))
    if not keys or df.empty:
        return [({}, df)]
    out = [(dict(zip(keys, k if isinstance(k, tuple) else (k,))), g) for k, g in df.groupby(keys, sort=True)]
    if "noise" in keys:
        out.sort(key=lambda kg: tuple(noise_sort_key(v) if k == "noise" else v for k, v in kg[0].items()))
    return out


def panel_title(d: dict, fmt: dict | None = None) -> str:
    """A panel's key values joined by `` · ``, each through ``fmt[key]`` where given."""
    fmt = fmt or {}
    parts = []
    for k, v in d.items():
        parts.append(fmt[k](v) if k in fmt else str(v))
    return " · ".join(parts)


def mean_sd(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, std (0 for one value) and count of ``value`` per ``by`` group."""
    g = df.groupby(by, sort=True)[value]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["sd"] = out["sd"].fillna(0.0)
    return out


def line_band(ax, x, mean, sd, color, label=None, marker="o", ls="-"):
    """A mean line with markers over a ± sd band."""
    x, mean, sd = (np.asarray(v, dtype=np.float64) for v in (x, mean, sd))
    ax.fill_between(x, mean - sd, mean + sd, color=color, alpha=0.18, lw=0)
    ax.plot(x, mean, color=color, marker=marker, ms=4, lw=1.4, ls=ls, label=label, mec="white", mew=0.5)


def method_handles(methods, marker="o"):
    """Legend handles: one line per method in its colour."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=method_color(m), marker=marker, ms=5, lw=1.4, label=m) for m in methods]


def outside_legend(fig, handles, title=None, fontsize=7):
    """A legend right of the panels, in as many columns as the figure's height needs."""
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


def pct_removed(v: float) -> str:
    """A ratio as a panel title: ``0.3`` → ``30% removed``."""
    return f"{100 * float(v):.0f}% removed"

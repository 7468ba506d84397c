"""What the study modules share: reading contract files and the retrain table, sorting and writing tables.

Every study's analysis takes paths that follow the path contract (:mod:`prunebench.paths`) or the long
``tables/retrain.csv`` frame, and returns a DataFrame sorted by its key columns (so the CSV that
:func:`write_table` writes is byte-identical for identical inputs). Nothing here trains a model. The
helpers their figures share are in :mod:`prunebench.plots.common`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io, paths

#: the setting keys of the retrain table that the studies group by (surrogate arch A, target B)
#: a retraining setting's keys but the method's (one panel of a figure): the result path's exp, dataset, noise,
#: arch and target
GROUP_KEYS = [k for k in paths.keys("retrain") if k not in ("scorer", "strategy", "ratio", "seed")]
#: a subset's keys before its ratio and seed (the subset path's)
SUBSET_KEYS = list(paths.keys("subset")[:-2])

PathLike = str | os.PathLike


def _oriented(scores: np.ndarray, keep: str) -> np.ndarray:
    """Scores with "higher = kept" for both ``keep`` directions."""
    return -scores if keep == "low" else scores


def labels_by_setting(labels_files: PathLike | Iterable[PathLike] | Mapping) -> dict[tuple, dict]:
    """``{(exp, dataset, noise): labels npz dict}`` from one path, several, or a mapping whose values are paths."""
    if isinstance(labels_files, (str, os.PathLike)):
        labels_files = [labels_files]
    elif isinstance(labels_files, Mapping):
        labels_files = list(labels_files.values())
    out = {}
    for p in labels_files:
        k = paths.parse(p, "labels")
        out[(k["exp"], k["dataset"], k["noise"])] = io.load_npz(p)
    return out


def as_paths(files) -> list[str]:
    """Paths as strings from one path, a list of them, or a mapping whose values are paths."""
    if isinstance(files, (str, os.PathLike)):
        return [str(files)]
    if isinstance(files, Mapping):
        return [str(v) for v in files.values()]
    return [str(f) for f in files]


def sort_rows(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``df`` stably sorted by those of ``keys`` it has, with a fresh index (a table's rows in a fixed order)."""
    keys = [k for k in keys if k in df.columns]
    return df.sort_values(keys, kind="stable").reset_index(drop=True) if len(df) else df.reset_index(drop=True)


def read_scores(score_files) -> pd.DataFrame:
    """One row per score file: contract keys + ``scores`` (oriented: higher = kept) + ``keep`` + ``params``."""
    from ..scorefile import read

    rows = []
    for p in as_paths(score_files):
        k = paths.parse(p, "scores")
        s, meta = read(p)
        rows.append(
            {**k, "keep": meta["keep"], "params": meta.get("params", {}) or {}, "scores": _oriented(s, meta["keep"])}
        )
    return pd.DataFrame(rows, columns=["exp", "dataset", "noise", "arch", "scorer", "seed", "keep", "params", "scores"])


def split_inputs(inputs: Iterable[PathLike]) -> dict[str, list[str]]:
    """Sort a Snakemake ``input`` list by contract kind: ``scores``, ``subset``, ``labels``, ``retrain``
    (per-run JSON), ``table`` (other ``.csv`` such as ``tables/retrain.csv``), ``npz`` (other ``.npz``,
    e.g. ``data/{dataset}/train.npz``) and ``other``; order within a kind is kept."""
    out: dict[str, list[str]] = {k: [] for k in ("scores", "subset", "labels", "retrain", "table", "npz", "other")}
    for p in map(str, inputs):
        for kind in ("scores", "subset", "labels", "retrain"):
            if paths.PATTERNS[kind].match(p.replace("\\", "/")):
                out[kind].append(p)
                break
        else:
            out["table" if p.endswith(".csv") else "npz" if p.endswith(".npz") else "other"].append(p)
    return out


def write_table(df: pd.DataFrame, out_csv: PathLike) -> None:
    """Write an analysis frame atomically with a fixed float format (:func:`prunebench.io.write_dataframe`)."""
    io.write_dataframe(out_csv, df)


def read_retrain(path: PathLike) -> pd.DataFrame:
    """The long ``tables/retrain.csv`` with ``ratio`` rounded to 6 decimals."""
    df = pd.read_csv(Path(path))
    df["ratio"] = df["ratio"].astype(float).round(6)
    return df

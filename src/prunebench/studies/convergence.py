"""The convergence check: is a training regime long enough for its verdicts to mean anything?

For every (dataset, noise, architecture) whose full-data reference a run trains, the same
reference is trained again at twice the epochs (budget ``x2``, same seeds). If the longer run's
mean final-epoch test accuracy is more than ``tol`` (1 point) above the reference's, the setting is
**not converged**: its pruning verdicts measure under-training as much as selection. The label
goes into the ``regime`` column of ``tables/accuracy.csv``, ``tables/retrain.csv`` and
``tables/significance.csv``, into the accuracy figure's panel titles, and into a warning at the end
of the run.

This module holds the rule, the table and its ``prunebench analyze convergence`` kind.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import io
from .base import kind

TOL = 0.01  # one accuracy point
KEYS = ("dataset", "noise", "target")
CONVERGED, NOT_CONVERGED = "converged", "not converged"


def regime(acc_short: Sequence[float], acc_long: Sequence[float], tol: float = TOL) -> tuple[float, str]:
    """``(gain, label)``: gain = mean(acc_long) − mean(acc_short); 'not converged' when gain > ``tol``."""
    gain = float(np.mean(acc_long) - np.mean(acc_short))
    return gain, (NOT_CONVERGED if gain > tol else CONVERGED)


def convergence_frame(short: list[dict], long: list[dict], tol: float = TOL) -> pd.DataFrame:
    """One row per (dataset, noise, target): the reference's and the 2× run's mean ± std accuracy,
    the gain, and the regime label. ``short``/``long``: retrain result dicts (the contract's JSON)."""
    def frame(rows):
        return pd.DataFrame([{**{k: r[k] for k in KEYS}, "seed": r["seed"], "epochs": r["epochs"],
                              "accuracy": r["test_accuracy"]} for r in rows])

    s, lg = frame(short), frame(long)
    rows = []
    for key, a in s.groupby(list(KEYS), sort=True):
        b = lg[(lg[list(KEYS)] == pd.Series(dict(zip(KEYS, key)))).all(axis=1)]
        if b.empty:
            raise ValueError(f"convergence: no 2× run for {dict(zip(KEYS, key))}")
        gain, label = regime(a["accuracy"], b["accuracy"], tol)
        rows.append({**dict(zip(KEYS, key)), "epochs": int(a["epochs"].max()), "epochs_long": int(b["epochs"].max()),
                     "acc": float(a["accuracy"].mean()), "acc_std": float(a["accuracy"].std(ddof=1)),
                     "acc_long": float(b["accuracy"].mean()), "acc_long_std": float(b["accuracy"].std(ddof=1)),
                     "gain": gain, "n_seeds": int(len(a)), "regime": label})
    return pd.DataFrame(rows)


def warnings(table: pd.DataFrame) -> list[str]:
    """One line per setting that is not converged, naming it and its gain."""
    return [f"NOT CONVERGED: {r.dataset}/{r.noise}/{r.target} gains {100 * r.gain:+.1f} points from "
            f"{r.epochs} to {r.epochs_long} epochs (full data, mean of {r.n_seeds} seeds); its pruning verdicts "
            "measure under-training as well as selection" for r in table.itertuples() if r.regime == NOT_CONVERGED]


def add_regime(df: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``regime`` column from the convergence table, keyed by (dataset, noise, target)."""
    if table is None or table.empty:
        return df.assign(regime="unchecked")
    m = {tuple(r[k] for k in KEYS): r["regime"] for r in table.to_dict("records")}
    return df.assign(regime=[m.get(tuple(r[k] for k in KEYS), "unchecked") for r in df.to_dict("records")])


@kind("convergence")
def convergence(inputs, out, n_long: int = 0):
    """Reference runs (the first inputs) vs their 2× runs (the last ``n_long`` inputs) → tables/convergence.csv."""
    short = [io.read_json(p) for p in inputs[: len(inputs) - n_long]]
    long = [io.read_json(p) for p in inputs[len(inputs) - n_long :]]
    table = convergence_frame(short, long)
    io.write_dataframe(out["table"], table)
    for line in warnings(table):
        print(f"WARNING: {line}")

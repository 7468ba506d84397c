"""Retrain results → ``tables/retrain.csv`` (long) and ``tables/accuracy.csv`` (mean ± std)."""

from __future__ import annotations

import pandas as pd

from . import io, paths

KEYS = [k for k in paths.keys("retrain") if k != "seed"]


def load_results(paths) -> pd.DataFrame:
    rows = []
    for p in paths:
        r = io.read_json(p)
        counts = r.get("class_counts")
        r = {k: v for k, v in r.items() if k not in ("class_counts", "class_accuracy", "test_accuracy_curve")}
        # a subset that leaves a class with no sample cannot be judged as a ranking of samples
        r["empty_classes"] = int(sum(1 for c in counts if c == 0)) if counts is not None else 0
        rows.append(r)
    df = pd.DataFrame(rows)
    missing = [k for k in KEYS + ["seed", "test_accuracy"] if k not in df.columns]
    if missing:
        raise ValueError(f"retrain results lack keys {missing}")
    df = df.rename(columns={"test_accuracy": "accuracy", "test_loss": "loss", "test_accuracy_best": "accuracy_best"})
    if "accuracy_best" not in df.columns:
        df["accuracy_best"] = float("nan")
    return df.sort_values(KEYS + ["seed"]).reset_index(drop=True)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of the final-epoch accuracy (the verdict), the best-epoch accuracy (for
    papers that report it), and ``empty_classes``: the most classes any seed's subset left empty."""
    g = df.groupby(KEYS, sort=True)
    out = g["accuracy"].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"mean": "acc_mean", "std": "acc_std", "count": "n_seeds"})
    out["acc_best_mean"] = g["accuracy_best"].mean().to_numpy()
    out["empty_classes"] = g["empty_classes"].max().to_numpy().astype(int)
    if "regime" in df.columns:
        out["regime"] = g["regime"].first().to_numpy()
    return out


def warn_empty_classes(df: pd.DataFrame) -> list[str]:
    """One line per retrain run whose subset left a class empty (printed to the aggregate log)."""
    bad = df[df["empty_classes"] > 0]
    return [f"subset with {r.empty_classes} empty class(es): {r.dataset}/{r.noise}/{r.arch}/{r.scorer}/"
            f"{r.strategy}/r{float(r.ratio):.2f} seed{r.seed}" for r in bad.itertuples()]


def aggregate(result_paths, out_long, out_summary, convergence=None) -> pd.DataFrame:
    """The long table and the summary; ``convergence`` (tables/convergence.csv) adds the ``regime``
    column (:mod:`prunebench.studies.convergence`), 'unchecked' without it."""
    from .studies.convergence import add_regime

    df = load_results(result_paths)
    df = add_regime(df, pd.read_csv(convergence) if convergence else None)
    cols = KEYS + ["seed", "accuracy", "accuracy_best", "loss", "n_kept", "n_train", "epochs", "steps", "budget",
                   "empty_classes", "regime"]
    for line in warn_empty_classes(df):
        print(f"WARNING: {line}")
    io.write_dataframe(out_long, df[cols])
    io.write_dataframe(out_summary, summarise(df))
    return df

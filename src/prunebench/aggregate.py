"""Retrain results → ``tables/retrain.csv`` (long) and ``tables/accuracy.csv`` (mean ± std)."""

from __future__ import annotations

import pandas as pd

from . import io

KEYS = ["exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target"]


def load_results(paths) -> pd.DataFrame:
    rows = []
    for p in paths:
        r = io.read_json(p)
        r = {k: v for k, v in r.items() if k not in ("class_counts", "class_accuracy")}
        rows.append(r)
    df = pd.DataFrame(rows)
    missing = [k for k in KEYS + ["seed", "test_accuracy"] if k not in df.columns]
    if missing:
        raise ValueError(f"retrain results lack keys {missing}")
    df = df.rename(columns={"test_accuracy": "accuracy", "test_loss": "loss"})
    return df.sort_values(KEYS + ["seed"]).reset_index(drop=True)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(KEYS, sort=True)["accuracy"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"mean": "acc_mean", "std": "acc_std", "count": "n_seeds"})


def aggregate(result_paths, out_long, out_summary) -> pd.DataFrame:
    df = load_results(result_paths)
    cols = KEYS + ["seed", "accuracy", "loss", "n_kept", "n_train", "epochs", "steps", "budget"]
    io.write_dataframe(out_long, df[cols])
    io.write_dataframe(out_summary, summarise(df))
    return df

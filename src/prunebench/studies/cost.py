"""Cost table from Snakemake ``benchmark:`` files and the ``*.timing.json`` sidecars.

Benchmark paths encode their keys (see workflow/rules):
``results/{exp}/benchmarks/{stage}/{dataset}/{noise}/{arch}/...``. ``seconds`` is
the job's wall time from the benchmark file (start-up included);
``compute_seconds`` is the stage's own compute time from its sidecar, where
one exists. A retrain job trains every seed: its time is split evenly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import io
from ..stats import load_benchmark_tsv

_LAYOUT = {  # jobs that run every seed have no seed level (their time is split evenly over the seeds)
    "surrogate": [["dataset", "noise", "arch", "seed"], ["dataset", "noise", "arch", "variant", "seed"]],
    "scores": [["dataset", "noise", "arch", "scorer"], ["dataset", "noise", "arch", "scorer", "seed"]],
    "select": [["dataset", "noise", "arch", "scorer", "strategy"]],
    "retrain": [["dataset", "noise", "arch", "scorer", "strategy", "target"],
                ["dataset", "noise", "arch", "scorer", "strategy", "full", "target"]],
}
STAGE = {"surrogate": "surrogate", "scores": "score", "select": "select", "retrain": "retrain"}


def parse_benchmark_path(path: str | Path) -> dict | None:
    parts = Path(path).with_suffix("").parts
    if "benchmarks" not in parts:
        return None
    i = parts.index("benchmarks")
    stage, keys = parts[i + 1], parts[i + 2 :]
    layouts = [lay for lay in _LAYOUT.get(stage, []) if len(lay) == len(keys)]
    if not layouts:
        return None
    d = dict(zip(layouts[0], keys))
    d.pop("full", None)
    if "seed" in d:
        d["seed"] = int(d["seed"].removeprefix("seed"))
    if "ratio" in d:
        d["ratio"] = float(d["ratio"].removeprefix("r"))
    return {"stage": STAGE[stage], **d}


def build_cost_table(benchmark_files, timing_files=(), n_seeds: int = 1, retrain_ratios: dict | None = None,
                     ratios=None, variant_users: dict | None = None) -> pd.DataFrame:
    """One row per (stage, keys, seed[, ratio]). Jobs that ran every seed (scores, select) or every
    (ratio, seed) (retrain: ``retrain_ratios[(dataset, noise, arch, scorer, strategy, target)]`` lists the
    ratios of that job) have their wall time split evenly; a score job's per-seed compute time comes
    from its ``seed{s}.timing.json``. A surrogate variant's run (``surrogate/{arch}/{variant}/seed{s}``)
    is the own surrogate of each scorer in ``variant_users[variant]``: one row per such scorer."""
    timings = {}
    for t in timing_files:
        t = Path(t)
        j = io.read_json(t)
        if t.name == "surrogate.timing.json":  # .../surrogate/{arch}[/{variant}]/seed{s}/surrogate.timing.json
            i = t.parts.index("surrogate", len(t.parts) - 5)
            variant = t.parts[i + 2] if i + 5 == len(t.parts) else None
            key = ("surrogate", t.parts[i + 1], int(t.parts[-2].removeprefix("seed")), variant, t.parts[i - 1],
                   t.parts[i - 2])
        else:  # .../{dataset}/{noise}/scores/{arch}/{scorer}/seed{s}.timing.json
            key = ("score", t.parts[-3], int(t.name.split(".")[0].removeprefix("seed")), t.parts[-2], t.parts[-5],
                   t.parts[-6])
        timings[key] = j
    rows = []
    for b in benchmark_files:
        keys = parse_benchmark_path(b)
        if keys is None:
            continue
        bench = load_benchmark_tsv(b)
        seconds, rss = bench["seconds"], bench["max_rss_mb"]
        if keys["stage"] == "retrain":
            if keys["scorer"] == "full":
                ratios = [0.0]
            else:
                k = (keys["dataset"], keys["noise"], keys["arch"], keys["scorer"], keys["strategy"], keys["target"])
                ratios = (retrain_ratios or {}).get(k, [None])
            share = seconds / (n_seeds * len(ratios))
            for r in ratios:
                for s in range(n_seeds):
                    rows.append({**keys, "ratio": r, "seed": s, "seconds": share, "max_rss_mb": rss})
            continue
        if keys["stage"] == "select" and ratios:  # one job selected every (seed, ratio)
            share = seconds / (n_seeds * len(ratios))
            rows += [{**keys, "ratio": float(r), "seed": s, "seconds": share, "max_rss_mb": rss}
                     for r in ratios for s in range(n_seeds)]
            continue
        variant = keys.pop("variant", None)
        owners = [None] if variant is None else list((variant_users or {}).get(variant, []))
        seeds = [keys["seed"]] if "seed" in keys else list(range(n_seeds))
        for s in seeds:
            row = {**keys, "seed": s, "seconds": seconds / len(seeds), "max_rss_mb": rss}
            t = timings.get((keys["stage"], keys["arch"], s, variant or keys.get("scorer"), keys["noise"],
                             keys["dataset"]))
            if t:
                row["compute_seconds"] = t["seconds"]
            rows += [row if owner is None else {**row, "scorer": owner} for owner in owners]
    cols = ["stage", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "seed", "seconds",
            "compute_seconds", "max_rss_mb"]
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df.columns:
            df[c] = pd.NA
    return df[cols].sort_values(cols[:9], na_position="first").reset_index(drop=True)

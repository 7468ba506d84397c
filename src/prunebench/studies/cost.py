"""Cost table from Snakemake ``benchmark:`` files and the ``*.timing.json`` sidecars.

Benchmark paths encode their keys (``prunebench.paths.JOBS``, the templates the rules use):
``results/{exp}/benchmarks/{stage}/{dataset}/{noise}/{arch}/...``. ``seconds`` is
the job's wall time from the benchmark file (start-up included);
``compute_seconds`` is the stage's own compute time from its sidecar, where
one exists. A retrain job trains every seed: its time is split evenly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io, paths
from ..stats import NO_SURROGATE, add_method_column, method_key, present_keys


def parse_benchmark_path(path: str | Path) -> dict | None:
    """Stage and keys of a job's benchmark file (:func:`prunebench.paths.parse_job`: the templates the
    rules write them with), or None for a file the cost table does not read."""
    return paths.parse_job(path)


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


# --- the cost table's readers, and cost against accuracy (moved from stats.py) ----------------------

BENCH_COLUMNS = ("s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load", "cpu_time")


def _num(v) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan  # "NA" (no sample taken) or "-" (None)


def load_benchmark_tsv(path: str | os.PathLike) -> dict:
    """Read a Snakemake ``benchmark:`` file (TSV, or JSONL when the name ends in ``.jsonl``).

    Columns ``s h:m:s max_rss max_vms max_uss max_pss io_in io_out mean_load cpu_time`` (memory in MiB,
    io in MiB; ``NA`` when the job ended before the first sample, ``-`` for None), optionally the extended
    columns. With ``repeat(...)`` there is one row per repetition: ``seconds`` is their mean, memory
    their max. Returns ``{"seconds", "max_rss_mb", "max_vms_mb", "max_uss_mb", "max_pss_mb", "io_in_mb",
    "io_out_mb", "mean_load", "cpu_time", "repeats"}`` (NaN where not measured).
    """
    path = os.fspath(path)
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
    else:
        with open(path, encoding="utf-8") as fh:
            lines = [ln.rstrip("\n") for ln in fh if ln.strip()]
        if not lines:
            raise ValueError(f"{path}: empty benchmark file")
        header = lines[0].split("\t")
        if header[0] != "s":
            raise ValueError(f"{path}: not a Snakemake benchmark file (header {header[:3]})")
        records = [dict(zip(header, ln.split("\t"))) for ln in lines[1:]]
    if not records:
        raise ValueError(f"{path}: benchmark file has no data row")

    def col(name: str) -> np.ndarray:
        return np.array([_num(r.get(name)) for r in records], dtype=np.float64)

    def agg(name: str, how) -> float:
        v = col(name)
        v = v[np.isfinite(v)]
        return float(how(v)) if v.size else math.nan

    return {
        "seconds": agg("s", np.mean),
        "max_rss_mb": agg("max_rss", np.max),
        "max_vms_mb": agg("max_vms", np.max),
        "max_uss_mb": agg("max_uss", np.max),
        "max_pss_mb": agg("max_pss", np.max),
        "io_in_mb": agg("io_in", np.mean),
        "io_out_mb": agg("io_out", np.mean),
        "mean_load": agg("mean_load", np.mean),
        "cpu_time": agg("cpu_time", np.mean),
        "repeats": len(records),
    }


def load_timing_json(path: str | os.PathLike) -> dict:
    """Read a scorer's ``*.timing.json`` sidecar ``{"seconds": float, "peak_rss_mb": float}``."""
    with open(path, encoding="utf-8") as fh:
        obj = json.load(fh)
    return {"seconds": _num(obj.get("seconds")), "max_rss_mb": _num(obj.get("peak_rss_mb"))}


ATTRIBUTIONS = ("shared", "amortized", "excluded")


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() in ("", "nan", "None", "-")


def cost_table(
    cost_df: pd.DataFrame,
    attribution: str = "shared",
    *,
    no_surrogate: Iterable[str] = NO_SURROGATE,
    surrogate_uses: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Total compute per method, ratio and target: surrogate + scoring + selection + retraining.

    One unit is a retrain run (dataset, noise, arch, scorer, strategy, ratio, target, seed); it pays

    * ``score_s``: every ``score`` row of its (dataset, noise, arch, scorer, seed) — scoring runs once per
      seed and is reused by every ratio, and each ratio pays it in full (what a user wanting that one
      subset pays);
    * ``select_s``: ``select`` rows of its (…, scorer, strategy, ratio, seed);
    * ``retrain_s``: its ``retrain`` rows;
    * ``surrogate_s``: ``surrogate`` rows whose ``scorer`` is set are that scorer's own surrogates (e.g.
      MoSo's partition surrogates) and are charged to it in full. Rows without a scorer are the shared
      surrogate of (dataset, noise, arch, seed), charged by ``attribution``:

      - ``"shared"`` (default): every method that reads the shared surrogate pays it in full — the
        honest stand-alone cost of running that method alone; methods in ``no_surrogate`` (``random``,
        ``full``) pay nothing. ``surrogate_uses[scorer]`` (default 1) multiplies it for scorers that
        average several surrogate runs (EL2N / GraNd over a list of seeds; cost = uses × this seed's run).
      - ``"amortized"``: the shared surrogate's cost is split among the scorers using it, in proportion to
        their uses (the cost of the whole benchmark, spread).
      - ``"excluded"``: not charged (marginal cost given a surrogate exists).

    ``selection_s`` = surrogate + score + select (cost to choose the subset); ``total_s`` adds retraining.
    Seeds are averaged (``*_s`` are means, ``total_sd_s`` the std over seeds); ``peak_rss_mb`` is the max
    over stages and seeds. ``missing`` names expected stages with no row (score for every method but
    ``full``; the shared surrogate for its users), counted as 0 s.
    """
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"attribution must be one of {ATTRIBUTIONS}, got {attribution!r}")
    no_surrogate = set(no_surrogate)
    uses = dict(surrogate_uses or {})
    c = cost_df.copy()
    if "max_rss_mb" not in c.columns:
        c["max_rss_mb"] = math.nan
    c["ratio"] = pd.to_numeric(c["ratio"], errors="coerce").round(6)
    c["scorer"] = ["" if _blank(s) else str(s) for s in c["scorer"]]
    c["strategy"] = ["" if _blank(s) else str(s) for s in c["strategy"]]
    c["seed"] = pd.to_numeric(c["seed"], errors="coerce")
    base = present_keys(("exp", "dataset", "noise", "arch"), c)

    def agg(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(columns=[*keys, "seconds", "max_rss_mb"])
        return (
            frame.groupby(keys, sort=True, dropna=False)
            .agg(seconds=("seconds", "sum"), max_rss_mb=("max_rss_mb", "max"))
            .reset_index()
        )

    stage = c["stage"].astype(str)
    surr = c[stage == "surrogate"]
    shared = agg(surr[surr["scorer"] == ""], [*base, "seed"])
    own = agg(surr[surr["scorer"] != ""], [*base, "scorer", "seed"])
    score = agg(c[stage == "score"], [*base, "scorer", "seed"])
    select = agg(c[stage == "select"], [*base, "scorer", "strategy", "ratio", "seed"])
    retrain = agg(c[stage == "retrain"], [*base, "scorer", "strategy", "ratio", "target", "seed"])
    if retrain.empty:
        raise ValueError("cost table has no 'retrain' rows")

    u = retrain.rename(columns={"seconds": "retrain_s", "max_rss_mb": "rss_retrain"})

    def join(frame: pd.DataFrame, keys: list[str], name: str) -> None:
        nonlocal u
        f = frame.rename(columns={"seconds": f"{name}_s", "max_rss_mb": f"rss_{name}"})
        u = u.merge(f, on=keys, how="left")

    join(score, [*base, "scorer", "seed"], "score")
    join(select, [*base, "scorer", "strategy", "ratio", "seed"], "select")
    join(own, [*base, "scorer", "seed"], "own")
    join(shared, [*base, "seed"], "shared")

    users = u["scorer"].map(lambda s: 0 if s in no_surrogate else int(uses.get(s, 1))).astype(float)
    u["_uses"] = users
    if attribution == "shared":
        share = users
    elif attribution == "excluded":
        share = users * 0.0
    else:  # amortized: split each shared surrogate run among the distinct scorers that use it
        per_run = (
            u.loc[users > 0, [*base, "seed", "scorer", "_uses"]]
            .drop_duplicates()
            .groupby([*base, "seed"])["_uses"]
            .sum()
        )
        tot = u.set_index([*base, "seed"]).index.map(lambda k: per_run.get(k, np.nan))
        share = users / np.asarray(tot, dtype=float)
    missing = []
    for s, sc, sh in zip(u["scorer"], u["score_s"], u["shared_s"]):
        miss = []
        if s != "full" and not np.isfinite(sc):
            miss.append("score")
        if s not in no_surrogate and not np.isfinite(sh):
            miss.append("surrogate")
        missing.append(",".join(miss))
    u["missing"] = missing
    u["surrogate_s"] = u["own_s"].fillna(0.0) + (u["shared_s"].fillna(0.0) * share).fillna(0.0)
    for col in ("score_s", "select_s", "retrain_s"):
        u[col] = u[col].fillna(0.0)
    u["selection_s"] = u["surrogate_s"] + u["score_s"] + u["select_s"]
    u["total_s"] = u["selection_s"] + u["retrain_s"]
    rss_cols = ["rss_retrain", "rss_score", "rss_select", "rss_own"] + (
        ["rss_shared"] if attribution != "excluded" else []
    )
    rss = u[rss_cols].copy()
    if "rss_shared" in rss:
        rss.loc[users.to_numpy() == 0, "rss_shared"] = np.nan
    u["peak_rss_mb"] = rss.max(axis=1, skipna=True)
    u["method"] = [method_key(s, t) for s, t in zip(u["scorer"], u["strategy"])]

    keys = [*base, "target", "method", "scorer", "strategy", "ratio"]
    secs = ["surrogate_s", "score_s", "select_s", "retrain_s", "selection_s", "total_s"]
    g = u.groupby(keys, sort=True, dropna=False)
    out = g[secs].mean()
    out["total_sd_s"] = g["total_s"].std(ddof=1)
    out["score_sd_s"] = g["score_s"].std(ddof=1)
    out["peak_rss_mb"] = g["peak_rss_mb"].max()
    out["n_seeds"] = g["seed"].nunique()
    out["missing"] = g["missing"].agg(lambda s: ",".join(sorted({x for v in s for x in v.split(",") if x})))
    out = out.reset_index()
    out["attribution"] = attribution
    return out


def cost_accuracy(results: pd.DataFrame, costs: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Join seed-mean accuracy (and its std) per (exp, dataset, noise, arch, target, method, ratio) with
    :func:`cost_table` output: one point per method and ratio for the accuracy-vs-compute figure."""
    r = add_method_column(results)
    keys = present_keys(("exp", "dataset", "noise", "arch", "target"), r) + ["method", "ratio"]
    acc = r.groupby(keys, sort=True)[metric].agg(["mean", "std", "count"]).reset_index()
    acc = acc.rename(columns={"mean": metric, "std": f"{metric}_sd", "count": "n_acc"})
    c = costs.copy()
    c["ratio"] = c["ratio"].astype(float).round(6)
    on = [k for k in keys if k in c.columns]
    return acc.merge(c, on=on, how="inner")


def pareto_front(points, minimize: Sequence[bool] = (True, False)) -> np.ndarray:
    """Indices of the non-dominated points, sorted by the first coordinate (then the second).

    ``points``: (n, 2) array-like, by default (cost, accuracy) with cost minimised and accuracy
    maximised. A point is dominated if another is at least as good in both coordinates and strictly
    better in one; exact duplicates do not dominate each other (both are kept). NaN rows are ignored.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(minimize):
        raise ValueError(f"points must have shape (n, {len(minimize)}), got {p.shape}")
    q = p * np.where(np.asarray(minimize, dtype=bool), 1.0, -1.0)  # all coordinates minimised
    ok = np.flatnonzero(np.isfinite(q).all(axis=1))
    q = q[ok]
    le = (q[:, None, :] <= q[None, :, :]).all(axis=2)  # le[j, i]: j at least as good as i everywhere
    lt = (q[:, None, :] < q[None, :, :]).any(axis=2)
    dominated = (le & lt).any(axis=0)
    front = ok[~dominated]
    order = np.lexsort((q[~dominated, 1], q[~dominated, 0]))
    return front[order]

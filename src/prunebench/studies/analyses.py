"""Study analyses: pure functions from contract files / the retrain table to tidy DataFrames.

Every function takes paths that follow the path contract (:mod:`prunebench.paths`) or the long
``tables/retrain.csv`` frame, and returns a DataFrame sorted by its key columns (so the CSV that
:func:`write_table` writes is byte-identical for identical inputs). Nothing here trains a model.

* :func:`noisy_removed` — label-noise study: which share of the *flipped* samples a method removes
  (reads ``flipped``; evaluation only, never fed back to a scorer). Random pruning removes a
  ``ratio`` share of them in expectation.
* :func:`crossarch_gain` — cross-architecture transfer: accuracy gain over ``random`` when the
  subset is chosen with surrogate A and retrained with target B, paired by seed.
* :func:`ablation_table` — hyper-parameter ablations (DynUnc window J, He et al. 2023, arXiv
  2306.05175, Sec. 3; MoSo checkpoint count T, Tan et al. 2023, arXiv 2310.14664, Eq. 4; surrogate
  optimiser): rank agreement with the reference setting and retrained accuracy.
* :func:`score_stability` — rank agreement of one method's scores across seeds (the
  reproducibility complaint in the seed papers' trackers).
* :func:`lossless_ratio` — the largest tested ratio whose accuracy stays within one seed-std of
  full data.
* :func:`class_composition` — per-class counts of the kept subsets (does a method starve classes?).

Spearman ρ is Pearson correlation of average ranks (Spearman 1904), computed by
:func:`prunebench.plots.correlation.spearman_matrix`.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io, paths
from ..stats import method_key

#: scorer names that are references, not pruning methods
REFERENCE_SCORERS = ("full", "random")
GROUP_KEYS = ["exp", "dataset", "noise", "arch", "target"]

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def noise_sort_key(noise: str) -> tuple:
    """clean first, then by kind (sym, asym, ...) and rate: ``clean < sym20 < sym40 < asym20``."""
    m = re.match(r"^(clean|([a-z]+)(\d+))$", str(noise))
    if not m:
        return (2, str(noise), 0)
    if m.group(1) == "clean":
        return (0, "", 0)
    return (1, {"sym": "0", "asym": "1"}.get(m.group(2), m.group(2)), int(m.group(3)))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from ..plots.correlation import spearman_matrix

    return float(spearman_matrix(np.stack([a, b], axis=1))[0, 1])


def _oriented(scores: np.ndarray, keep: str) -> np.ndarray:
    """Scores with "higher = kept" for both ``keep`` directions."""
    return -scores if keep == "low" else scores


def _labels_index(labels_files: PathLike | Iterable[PathLike] | Mapping) -> dict[tuple, dict]:
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


def _paths(files) -> list[str]:
    if isinstance(files, (str, os.PathLike)):
        return [str(files)]
    if isinstance(files, Mapping):
        return [str(v) for v in files.values()]
    return [str(f) for f in files]


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    keys = [k for k in keys if k in df.columns]
    return df.sort_values(keys, kind="stable").reset_index(drop=True) if len(df) else df.reset_index(drop=True)


def _read_scores(score_files) -> pd.DataFrame:
    """One row per score file: contract keys + ``scores`` (oriented: higher = kept) + ``keep`` + ``params``."""
    from ..scorefile import read

    rows = []
    for p in _paths(score_files):
        k = paths.parse(p, "scores")
        s, meta = read(p)
        rows.append(
            {**k, "keep": meta["keep"], "params": meta.get("params", {}) or {}, "scores": _oriented(s, meta["keep"])}
        )
    return pd.DataFrame(rows, columns=["exp", "dataset", "noise", "arch", "scorer", "seed", "keep", "params", "scores"])


def _full_reference(df: pd.DataFrame) -> pd.DataFrame:
    """Full-data mean/std/n over seeds per (exp, dataset, noise, arch, target); a target with no
    reference under surrogate arch A borrows the one trained under any arch (full-data training
    does not depend on the surrogate): mean of those rows per seed."""
    keys = [k for k in GROUP_KEYS if k in df.columns]
    full = df[df["scorer"] == "full"]
    if full.empty:
        return pd.DataFrame(columns=[*keys, "full_mean", "full_std", "full_n"])
    g = full.groupby(keys, sort=True)["accuracy"]
    ref = g.agg(full_mean="mean", full_std="std", full_n="count").reset_index()
    # borrowed references for (arch, target) pairs that have pruned rows but no full rows
    wanted = df[df["scorer"] != "full"][keys].drop_duplicates()
    missing = wanted.merge(ref[keys], on=keys, how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"].drop(columns="_merge")
    if len(missing):
        other = [k for k in keys if k != "arch"]
        per_seed = full.groupby([*other, "seed"], sort=True)["accuracy"].mean().reset_index()
        alt = per_seed.groupby(other, sort=True)["accuracy"].agg(full_mean="mean", full_std="std", full_n="count")
        borrowed = missing.merge(alt.reset_index(), on=other, how="inner")
        ref = pd.concat([ref, borrowed], ignore_index=True)
    return ref


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


# ---------------------------------------------------------------------------------------------
# 1. noise study: share of the flipped samples removed
# ---------------------------------------------------------------------------------------------

NOISY_COLUMNS = [
    "exp",
    "dataset",
    "noise",
    "arch",
    "scorer",
    "strategy",
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
    labels = _labels_index(labels_files)
    rows = []
    for p in _paths(subset_files):
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
    return _sorted(df, ["exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "seed"])


# ---------------------------------------------------------------------------------------------
# 2. cross-architecture gain over random
# ---------------------------------------------------------------------------------------------

GAIN_COLUMNS = [
    "exp",
    "dataset",
    "noise",
    "arch",
    "target",
    "scorer",
    "strategy",
    "method",
    "ratio",
    "gain_mean",
    "gain_std",
    "n_seeds",
    "acc_mean",
    "random_mean",
    "random_arch",
]


def crossarch_gain(retrain_df: pd.DataFrame, baseline: str = "random") -> pd.DataFrame:
    """Accuracy gain over ``baseline`` per (scoring arch A, target B, ratio, method), paired by seed.

    For every seed s: gain_s = acc(method, A→B, ratio, s) − acc(random, A→B, ratio, s); the table
    holds mean and sample std (ddof 1; NaN for one seed) over the seeds present in both. Random
    pruning reads no surrogate, so when no random run exists under surrogate A for target B the
    random runs of the same target under any other surrogate are used (per-seed mean; ``random_arch``
    names them), else the row is dropped. Full-data rows and the baseline itself are not listed.
    """
    df = retrain_df.copy()
    df["ratio"] = df["ratio"].astype(float).round(6)
    keys = [k for k in GROUP_KEYS if k in df.columns]
    setting = [*keys, "ratio", "seed"]
    base = df[df["scorer"] == baseline]
    meth = df[~df["scorer"].isin([baseline, "full"]) & (df["ratio"] > 0)]
    if meth.empty or base.empty:
        return pd.DataFrame(columns=GAIN_COLUMNS)
    b_same = base.groupby(setting, sort=True)["accuracy"].mean().rename("random_acc").reset_index()
    b_same["random_arch"] = b_same["arch"]
    other = [k for k in setting if k != "arch"]
    b_any = base.groupby(other, sort=True).agg(
        random_acc=("accuracy", "mean"), random_arch=("arch", lambda a: "|".join(sorted(set(a))))
    )
    b_any = b_any.reset_index()
    m = meth.merge(b_same, on=setting, how="left")
    miss = m["random_acc"].isna()
    if miss.any():
        alt = m.loc[miss, meth.columns].merge(b_any, on=other, how="inner")
        m = pd.concat([m[~miss], alt], ignore_index=True)
    m["gain"] = m["accuracy"] - m["random_acc"]
    g = m.groupby([*keys, "scorer", "strategy", "ratio"], sort=True)
    out = g.agg(
        gain_mean=("gain", "mean"),
        gain_std=("gain", "std"),
        n_seeds=("gain", "count"),
        acc_mean=("accuracy", "mean"),
        random_mean=("random_acc", "mean"),
        random_arch=("random_arch", lambda a: "|".join(sorted(set(a)))),
    ).reset_index()
    out["method"] = [method_key(s, t) for s, t in zip(out["scorer"], out["strategy"])]
    return _sorted(out[[c for c in GAIN_COLUMNS if c in out.columns]], [*keys, "scorer", "strategy", "ratio"])


def transfer_settings(gain_df: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`crossarch_gain` that belong to a cross-architecture grid: (method, ratio)
    settings retrained under more than one (scoring arch, target) pair. The head-to-head sweep's
    A = B runs of every other method and ratio would be 1 × 1 panels of the heatmap grid."""
    if gain_df.empty:
        return gain_df
    keys = [k for k in ("exp", "dataset", "noise", "method", "ratio") if k in gain_df.columns]
    pair = gain_df["arch"].astype(str) + "→" + gain_df["target"].astype(str)
    n_pairs = pair.groupby([gain_df[k] for k in keys]).transform("nunique")
    return gain_df[n_pairs > 1].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# 3. ablations
# ---------------------------------------------------------------------------------------------

_VARIANT = re.compile(r"^(?P<base>.+?)[-_:@](?P<key>[A-Za-z]+)(?P<value>\d+(?:\.\d+)?)$")

ABLATION_COLUMNS = [
    "family",
    "variant",
    "reference",
    "param",
    "value",
    "label",
    "exp",
    "dataset",
    "noise",
    "arch",
    "target",
    "strategy",
    "ratio",
    "rho_mean",
    "rho_std",
    "rho_min",
    "rho_n",
    "acc_mean",
    "acc_std",
    "acc_n",
]


def parse_variant(name: str) -> tuple[str, str | None, float | None]:
    """``dynunc-J3`` → ("dynunc", "J", 3.0); ``moso_T10`` → ("moso", "T", 10.0); ``moso-adam`` → ("moso-adam", None, None)."""
    m = _VARIANT.match(str(name))
    if not m:
        return str(name), None, None
    return m.group("base"), m.group("key"), float(m.group("value"))


def infer_variants(scorers: Iterable[str]) -> dict[str, dict[str, str]]:
    """Ablation families from scorer names: every ``{base}-{K}{number}`` joins family ``{base}-{K}``
    with reference ``{base}`` (the method's default setting) when ``base`` is among the names, else the
    family's first variant in numeric order. Families with fewer than two members are dropped.

    ``infer_variants(["dynunc", "dynunc-J3", "dynunc-J5", "el2n"])`` →
    ``{"dynunc-J": {"dynunc-J3": "dynunc", "dynunc-J5": "dynunc"}}``.
    """
    names = sorted(set(map(str, scorers)))
    fams: dict[str, list[tuple[float, str]]] = {}
    bases: dict[str, str] = {}
    for n in names:
        base, key, value = parse_variant(n)
        if key is None:
            continue
        fams.setdefault(f"{base}-{key}", []).append((value, n))
        bases[f"{base}-{key}"] = base
    out = {}
    for fam, members in sorted(fams.items()):
        members.sort()
        ref = bases[fam] if bases[fam] in names else members[0][1]
        if len(members) + (ref not in [m for _, m in members]) < 2:
            continue
        out[fam] = {m: ref for _, m in members}
    return out


def _variant_param(name: str, family_key: str | None, params: dict) -> tuple[str | None, float]:
    base, key, value = parse_variant(name)
    if key is not None:
        return key, value
    if family_key is not None and family_key in params:
        try:
            return family_key, float(params[family_key])
        except (TypeError, ValueError):
            return family_key, math.nan
    return family_key, math.nan


def ablation_table(
    score_files, retrain_df: pd.DataFrame | None, variants: Mapping[str, Mapping[str, str]]
) -> pd.DataFrame:
    """Ablation of a method's hyper-parameter: agreement with the reference setting and accuracy.

    ``variants``: ``{family: {variant scorer name: reference scorer name}}``, e.g.
    ``{"dynunc-J": {"dynunc-J3": "dynunc", "dynunc-J5": "dynunc", "dynunc-J20": "dynunc"}}`` (DynUnc
    window J, He et al. 2023, Sec. 3; default J = 10) or ``{"moso-T": {"moso-T1": "moso", ...}}``
    (MoSo checkpoints T, Tan et al. 2023, Eq. 4; default T = 10) or ``{"moso-opt": {"moso-adam": "moso"}}``.
    Each reference is listed as a member of its family too (ρ = 1). :func:`infer_variants` builds the
    mapping from scorer names.

    ``score_files``: score paths of the variants and references (all seeds, noises, archs).
    ρ = Spearman of the variant's and the reference's scores of the *same* seed (both oriented so that
    higher = kept), then mean / std / min over the seeds present for both, per (exp, dataset, noise, arch).
    ``retrain_df``: the long retrain table (or None); accuracy mean / std / n over seeds at each
    (target, strategy, ratio) the variant was retrained at. A variant with no retrain rows gets one row
    with NaN ratio and accuracy. ``param`` / ``value``: the swept hyper-parameter and its value, from the
    name suffix (``J3`` → J = 3) or, for the reference, from its score file's ``params``.
    """
    sc = _read_scores(score_files)
    by_key = {(r.exp, r.dataset, r.noise, r.arch, r.scorer, r.seed): r for r in sc.itertuples(index=False)}
    settings = sorted({(r.exp, r.dataset, r.noise, r.arch) for r in sc.itertuples(index=False)})
    rt = None
    if retrain_df is not None and len(retrain_df):
        rt = retrain_df.copy()
        rt["ratio"] = rt["ratio"].astype(float).round(6)
    rows = []
    for family, members in variants.items():
        members = dict(members)
        for ref in sorted(set(members.values())):
            members.setdefault(ref, ref)
        keys_in_family = {parse_variant(v)[1] for v in members if parse_variant(v)[1] is not None}
        fam_key = next(iter(keys_in_family)) if len(keys_in_family) == 1 else None
        for variant, reference in members.items():
            for exp, dataset, noise, arch in settings:
                seeds = sorted(
                    s
                    for (e, d, nz, a, name, s) in by_key
                    if (e, d, nz, a, name) == (exp, dataset, noise, arch, variant)
                )
                if not seeds:
                    continue
                rhos = []
                params = {}
                for s in seeds:
                    v = by_key[(exp, dataset, noise, arch, variant, s)]
                    params = v.params
                    r = by_key.get((exp, dataset, noise, arch, reference, s))
                    if r is not None:
                        rhos.append(1.0 if variant == reference else _spearman(v.scores, r.scores))
                rho = np.asarray(rhos, dtype=np.float64)
                param, value = _variant_param(variant, fam_key, params)
                label = variant if param is None or not np.isfinite(value) else f"{param}={value:g}"
                base = {
                    "family": family, "variant": variant, "reference": reference, "param": param, "value": value,
                    "label": label, "exp": exp, "dataset": dataset, "noise": noise, "arch": arch,
                    "rho_mean": float(rho.mean()) if rho.size else math.nan,
                    "rho_std": float(rho.std(ddof=1)) if rho.size > 1 else math.nan,
                    "rho_min": float(rho.min()) if rho.size else math.nan, "rho_n": int(rho.size),
                }  # fmt: skip
                acc = None
                if rt is not None:
                    acc = rt[
                        (rt["exp"] == exp)
                        & (rt["dataset"] == dataset)
                        & (rt["noise"] == noise)
                        & (rt["arch"] == arch)
                        & (rt["scorer"] == variant)
                        & (rt["ratio"] > 0)
                    ]
                if acc is None or acc.empty:
                    rows.append(
                        {
                            **base,
                            "target": math.nan,
                            "strategy": math.nan,
                            "ratio": math.nan,
                            "acc_mean": math.nan,
                            "acc_std": math.nan,
                            "acc_n": 0,
                        }
                    )
                    continue
                for (target, strategy, ratio), g in acc.groupby(["target", "strategy", "ratio"], sort=True):
                    a = g["accuracy"].to_numpy(np.float64)
                    rows.append(
                        {
                            **base,
                            "target": target,
                            "strategy": strategy,
                            "ratio": float(ratio),
                            "acc_mean": float(a.mean()),
                            "acc_std": float(a.std(ddof=1)) if a.size > 1 else math.nan,
                            "acc_n": int(a.size),
                        }
                    )
    df = pd.DataFrame(rows, columns=ABLATION_COLUMNS)
    return _sorted(df, ["family", "exp", "dataset", "noise", "arch", "value", "variant", "target", "strategy", "ratio"])


# ---------------------------------------------------------------------------------------------
# 4. seed stability of scores
# ---------------------------------------------------------------------------------------------

STABILITY_COLUMNS = [
    "exp",
    "dataset",
    "noise",
    "arch",
    "scorer",
    "n_seeds",
    "n_pairs",
    "rho_mean",
    "rho_min",
    "rho_max",
    "rho_std",
]


def score_stability(score_files) -> pd.DataFrame:
    """Spearman ρ between one method's scores from different seeds (all unordered pairs), per
    (exp, dataset, noise, arch, scorer): mean, min, max and std (ddof 0) over the pairs. Seed s uses
    surrogate s, so this measures how much the ranking depends on the surrogate's training run;
    ``random`` gives ρ ≈ 0 as a floor. Methods with a single seed get ``n_pairs`` 0 and NaN ρ."""
    from ..plots.correlation import spearman_matrix

    sc = _read_scores(score_files)
    rows = []
    for key, g in sc.groupby(["exp", "dataset", "noise", "arch", "scorer"], sort=True):
        g = g.sort_values("seed")
        k = len(g)
        rho = np.array([])
        if k > 1:
            mat = spearman_matrix(np.stack(list(g["scores"]), axis=1))
            rho = np.array([mat[i, j] for i, j in itertools.combinations(range(k), 2)])
        ok = rho[np.isfinite(rho)]
        rows.append(
            {
                **dict(zip(["exp", "dataset", "noise", "arch", "scorer"], key)),
                "n_seeds": k,
                "n_pairs": int(rho.size),
                "rho_mean": float(ok.mean()) if ok.size else math.nan,
                "rho_min": float(ok.min()) if ok.size else math.nan,
                "rho_max": float(ok.max()) if ok.size else math.nan,
                "rho_std": float(ok.std()) if ok.size else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=STABILITY_COLUMNS)


# ---------------------------------------------------------------------------------------------
# 5. lossless ratio
# ---------------------------------------------------------------------------------------------

LOSSLESS_COLUMNS = [
    "exp",
    "dataset",
    "noise",
    "arch",
    "target",
    "scorer",
    "strategy",
    "method",
    "lossless_ratio",
    "lossless_ratio_contiguous",
    "full_mean",
    "full_std",
    "threshold",
    "n_ratios",
    "max_ratio",
    "ratios_tested",
    "ratios_passed",
]


def lossless_ratio(retrain_df: pd.DataFrame, k_std: float = 1.0) -> pd.DataFrame:
    """Largest pruning ratio at which a method is "lossless": mean accuracy over seeds
    ≥ full_mean − k_std · full_std, with full_mean / full_std the mean and sample std (ddof 1) of the
    full-data reference over seeds (std taken as 0 with one seed).

    ``lossless_ratio``: the largest tested ratio that passes (0.0 when none does: only full data is
    lossless). ``lossless_ratio_contiguous``: the largest r such that *every* tested ratio ≤ r passes
    (guards against a lucky high ratio after a failing lower one). ``ratios_tested`` /
    ``ratios_passed``: the ratios as ``;``-separated text (``"0.3;0.5"``). Per (exp, dataset, noise, arch,
    target, scorer, strategy); the full reference is matched on (exp, dataset, noise, arch, target)
    and borrowed from another surrogate arch with the same target if absent (see :func:`_full_reference`).
    """
    df = retrain_df.copy()
    df["ratio"] = df["ratio"].astype(float).round(6)
    keys = [k for k in GROUP_KEYS if k in df.columns]
    ref = _full_reference(df)
    meth = df[(df["scorer"] != "full") & (df["ratio"] > 0)]
    if meth.empty or ref.empty:
        return pd.DataFrame(columns=LOSSLESS_COLUMNS)
    mean = meth.groupby([*keys, "scorer", "strategy", "ratio"], sort=True)["accuracy"].mean().rename("acc")
    mean = mean.reset_index().merge(ref, on=keys, how="inner")
    mean["threshold"] = mean["full_mean"] - k_std * mean["full_std"].fillna(0.0)
    mean["ok"] = mean["acc"] >= mean["threshold"] - 1e-12
    rows = []
    for key, g in mean.groupby([*keys, "scorer", "strategy"], sort=True):
        g = g.sort_values("ratio")
        ok = g["ok"].to_numpy()
        r = g["ratio"].to_numpy(np.float64)
        lossless = float(r[ok].max()) if ok.any() else 0.0
        n_prefix = int(np.argmin(ok)) if not ok.all() else len(ok)
        contiguous = float(r[n_prefix - 1]) if n_prefix > 0 else 0.0
        d = dict(zip([*keys, "scorer", "strategy"], key))
        rows.append(
            {
                **d,
                "method": method_key(d["scorer"], d["strategy"]),
                "lossless_ratio": lossless,
                "lossless_ratio_contiguous": contiguous,
                "full_mean": float(g["full_mean"].iloc[0]),
                "full_std": float(g["full_std"].iloc[0]),
                "threshold": float(g["threshold"].iloc[0]),
                "n_ratios": len(g),
                "max_ratio": float(r.max()),
                "ratios_tested": ";".join(f"{v:g}" for v in r),
                "ratios_passed": ";".join(f"{v:g}" for v in r[ok]),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *LOSSLESS_COLUMNS[5:]])


# ---------------------------------------------------------------------------------------------
# 6. class composition of the subsets
# ---------------------------------------------------------------------------------------------

COMPOSITION_COLUMNS = [
    "exp",
    "dataset",
    "noise",
    "arch",
    "scorer",
    "strategy",
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
    labels = _labels_index(labels_file)
    keep_seeds = None if seeds is None else {int(s) for s in seeds}
    rows = []
    for p in _paths(subset_files):
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
    return _sorted(df, ["exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "seed", "class"])


# ---------------------------------------------------------------------------------------------
# class imbalance: what pruning does to the rare classes of a long-tailed training set
# ---------------------------------------------------------------------------------------------

IMBALANCE_COLUMNS = [
    "exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "method", "n_seeds",
    "acc_mean", "acc_std", "balanced_acc_mean", "balanced_acc_std", "head_acc_mean", "head_acc_std",
    "tail_acc_mean", "tail_acc_std", "kept_frac", "tail_kept_frac", "tail_kept_vs_random", "tail_classes",
]  # fmt: skip


def tail_classes(counts) -> list[int]:
    """The rarer half of the classes (``floor(C/2)`` classes with the fewest training samples; ties
    broken by class index, higher = rarer, as in the long-tail profile)."""
    counts = np.asarray(counts)
    order = sorted(range(len(counts)), key=lambda c: (counts[c], -c))
    return sorted(order[: len(counts) // 2])


def imbalance_table(retrain_files) -> pd.DataFrame:
    """Per-class view of retraining on long-tailed (and, for comparison, balanced) training sets.

    ``retrain_files``: per-run result JSONs (``class_counts`` of the kept subset and ``class_accuracy``
    on the balanced test set), including each (dataset, noise, target)'s ``full`` run, whose class
    counts are the training set's. Tail classes: :func:`tail_classes` of the most imbalanced training
    set among the inputs (the same class ids for every dataset, so a balanced set's row shows how the
    same classes fare without imbalance). Per setting, over seeds: accuracy, balanced accuracy (mean of
    the per-class accuracies), head / tail accuracy (mean over those classes), the fraction of the
    training set kept, the fraction of the tail classes' samples kept, and their ratio
    ``tail_kept_vs_random`` (1 = the tail keeps its share, as under random pruning in expectation; < 1 =
    the method prunes the rare classes harder)."""
    runs = []
    for p in _paths(retrain_files):
        k = paths.parse(p, "retrain")
        r = io.read_json(p)
        if "class_accuracy" not in r or "class_counts" not in r:
            raise ValueError(f"{p}: no per-class results (class_accuracy, class_counts); rerun its retrain job")
        runs.append({**k, "class_counts": np.asarray(r["class_counts"], dtype=np.int64),
                     "class_accuracy": np.asarray([np.nan if v is None else v for v in r["class_accuracy"]],
                                                  dtype=np.float64),
                     "accuracy": float(r["test_accuracy"])})
    if not runs:
        return pd.DataFrame(columns=IMBALANCE_COLUMNS)
    train_counts = {}
    for r in runs:
        if r["scorer"] == "full":
            train_counts[(r["exp"], r["dataset"], r["noise"], r["target"])] = r["class_counts"]
    if not train_counts:
        raise ValueError("imbalance: no full-data run among the inputs (its class counts are the training set's)")
    most = max(train_counts.values(), key=lambda c: (c.max() / max(c.min(), 1), c.sum()))
    tail = tail_classes(most)
    head = [c for c in range(len(most)) if c not in set(tail)]
    rows = []
    for r in runs:
        key = (r["exp"], r["dataset"], r["noise"], r["target"])
        if key not in train_counts:
            raise ValueError(f"imbalance: no full-data run for {key}")
        n_c = train_counts[key]
        acc_c = r["class_accuracy"]
        rows.append({
            **{c: r[c] for c in ("exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "seed")},
            "method": method_key(r["scorer"], r["strategy"]), "accuracy": r["accuracy"],
            "balanced_acc": float(np.nanmean(acc_c)), "head_acc": float(np.nanmean(acc_c[head])),
            "tail_acc": float(np.nanmean(acc_c[tail])), "kept_frac": r["class_counts"].sum() / n_c.sum(),
            "tail_kept_frac": r["class_counts"][tail].sum() / max(n_c[tail].sum(), 1),
        })  # fmt: skip
    df = pd.DataFrame(rows)
    keys = ["exp", "dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "method"]
    g = df.groupby(keys, sort=True)
    out = g.agg(
        n_seeds=("seed", "nunique"), acc_mean=("accuracy", "mean"), acc_std=("accuracy", "std"),
        balanced_acc_mean=("balanced_acc", "mean"), balanced_acc_std=("balanced_acc", "std"),
        head_acc_mean=("head_acc", "mean"), head_acc_std=("head_acc", "std"),
        tail_acc_mean=("tail_acc", "mean"), tail_acc_std=("tail_acc", "std"),
        kept_frac=("kept_frac", "mean"), tail_kept_frac=("tail_kept_frac", "mean"),
    ).reset_index()  # fmt: skip
    out["tail_kept_vs_random"] = out["tail_kept_frac"] / out["kept_frac"]
    out["tail_classes"] = ";".join(map(str, tail))
    return _sorted(out[IMBALANCE_COLUMNS], keys[:-1])


def read_retrain(path: PathLike) -> pd.DataFrame:
    """The long ``tables/retrain.csv`` with ``ratio`` rounded to 6 decimals."""
    df = pd.read_csv(Path(path))
    df["ratio"] = df["ratio"].astype(float).round(6)
    return df

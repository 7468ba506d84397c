"""Statistics a reviewer can check: paired tests over seeds and rank summaries (cost: studies/cost.py).

Inputs are the long tables the workflow writes:

* ``results/{exp}/tables/retrain.csv`` — one row per retrain run, columns
  ``exp,dataset,noise,arch,scorer,strategy,ratio,target,seed,accuracy,loss,n_kept,epochs,steps``.
  ``ratio`` is the fraction *removed*; the full-data reference is scorer ``full``, strategy
  ``all``, ratio 0. Methods are **paired by seed**: seed *s* of every method uses surrogate *s*
  and retraining seed *s*, so method differences are computed seed by seed.
* ``tables/cost.csv`` — read by :mod:`prunebench.studies.cost`, which builds it.

Statistical choices (details in each docstring):

* **Paired test** — Student's paired t-test (default). Accuracy at one seed is an average over
  thousands of test images, so the per-seed differences are close to normal, and the t-test is
  the only common paired test that can reject at all with the 3-seed default: the exact
  sign-flip permutation test and the Wilcoxon signed-rank test cannot return p < 2/2^n
  (0.25 for n = 3, 0.0625 for n = 5; n >= 6 is needed for p <= 0.05). The exact sign-flip p-value
  is reported next to it (``p_perm``, ``p_min_perm``) as the distribution-free check.
  Fisher (1935) / Pitman (1937) for the permutation test; Student (1908) for the t-test.
* **Multiplicity** — Holm (1979) step-down correction over every distinct pair tested in the table
  (controls the family-wise error rate under any dependence).
* **CI** — paired percentile bootstrap over seeds (Efron & Tibshirani 1993, ch. 13). With n seeds
  there are only C(2n-1, n) distinct resamples (10 for n = 3); when n^n <= n_boot the bootstrap
  distribution is enumerated exactly instead of sampled. Percentile intervals under-cover badly for
  small n (measured on normal data: 0.68 / 0.83 / 0.90 / 0.93 at 3 / 5 / 10 / 20 seeds; a bootstrap
  interval never leaves the range of the observed differences), so the t-interval, which has nominal
  coverage, is reported next to it (``ci_t_low``/``ci_t_high``): prefer it below ~10 seeds.
* **Ranks** — Friedman test and Nemenyi critical difference, Demšar (2006), JMLR 7:1-30, eqs. in
  sec. 3.2.2; q_alpha from the studentized range distribution.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

SETTING_KEYS = ("exp", "dataset", "noise", "arch", "target", "ratio")
BLOCK_KEYS = ("exp", "dataset", "noise", "arch", "target")
#: strategies that do not change a method's name (the scorer's own default selection)
DEFAULT_STRATEGIES = ("keep", "solver", "all")
#: methods that read no surrogate model (their cost includes no surrogate training)
NO_SURROGATE = ("random", "full")
TESTS = ("t", "permutation", "wilcoxon")

PAIRED_CAPTION = (
    "Paired comparison over seeds (seed s of every method shares surrogate and retraining seed s). "
    "diff = mean over seeds of (method - other) accuracy; 95% CI by paired bootstrap over seeds "
    "(exact enumeration when n^n <= resamples; with n seeds only C(2n-1, n) distinct resamples exist, 10 for "
    "n = 3, and the interval under-covers: about 68 % actual coverage at 3 seeds, 83 % at 5; ci_t is the "
    "t-interval with nominal coverage); p from a two-sided paired t-test, Holm-corrected over all distinct pairs of the table; "
    "p_perm is the exact sign-flip permutation p-value, which cannot fall below 2/2^n (0.25 for 3 seeds). "
    "mdd = smallest true difference the paired t-test detects with the stated power at the observed "
    "paired std. 'vs_best' rows compare with the method of highest mean at that setting, chosen on the "
    "same data (a winner's-curse bias: treat 'not significant' there as 'tied with the best')."
)


# ---------------------------------------------------------------------------------------------
# method keys and table preparation
# ---------------------------------------------------------------------------------------------


def method_key(scorer: str, strategy: str, default_strategies: Iterable[str] = DEFAULT_STRATEGIES) -> str:
    """One strategy-agnostic name per (scorer, strategy) pair: ``scorer`` for the scorer's default
    selection (``keep``, ``solver``, ``all``), else ``scorer+strategy`` (``el2n+classbal``)."""
    strategy = "" if strategy is None or (isinstance(strategy, float) and math.isnan(strategy)) else str(strategy)
    if not strategy or strategy in tuple(default_strategies):
        return str(scorer)
    return f"{scorer}+{strategy}"


def add_method_column(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with a ``method`` column (see :func:`method_key`) and ``ratio`` rounded to 6 decimals."""
    out = df.copy()
    if "method" not in out.columns:
        strat = out["strategy"] if "strategy" in out.columns else pd.Series("", index=out.index)
        out["method"] = [method_key(s, t) for s, t in zip(out["scorer"], strat)]
    if "ratio" in out.columns:
        out["ratio"] = out["ratio"].astype(float).round(6)
    return out


def present_keys(keys: Iterable[str], df: pd.DataFrame) -> list[str]:
    return [k for k in keys if k in df.columns]


def _pruned_only(df: pd.DataFrame, exclude: Iterable[str]) -> pd.DataFrame:
    exclude = set(exclude)
    keep = ~df["method"].isin(exclude) & ~df["scorer"].isin(exclude) & (df["ratio"] > 0)
    return df[keep]


# ---------------------------------------------------------------------------------------------
# paired tests
# ---------------------------------------------------------------------------------------------


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values; NaNs stay NaN and are not counted in the family.

    Sorted p_(1) <= ... <= p_(m): adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)).
    Reject H_(i) at level alpha iff adj_(i) <= alpha. Controls the family-wise error rate.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


@functools.lru_cache(maxsize=64)
def _bootstrap_index(n: int, n_boot: int, seed: int) -> tuple[np.ndarray, str]:
    """Resample index matrix: every one of the n^n ordered resamples when n^n <= n_boot (exact
    bootstrap distribution), else n_boot draws from ``default_rng([seed, n])``."""
    if n**n <= n_boot:
        idx = np.array(list(itertools.product(range(n), repeat=n)), dtype=np.int64).reshape(-1, n)
        kind = "exact"
    else:
        idx = np.random.default_rng([seed, n]).integers(0, n, size=(n_boot, n))
        kind = "monte-carlo"
    idx.setflags(write=False)
    return idx, kind


def bootstrap_ci(
    d: np.ndarray, *, n_boot: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, str]:
    """Percentile bootstrap CI of the mean of paired differences ``d`` (resampling seeds).

    Deterministic: the resample indices depend only on (n, n_boot, seed). Returns (low, high, kind).
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n < 2:
        return (math.nan, math.nan, "none")
    idx, kind = _bootstrap_index(n, int(n_boot), int(seed))
    means = d[idx].mean(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return float(lo), float(hi), kind


def n_distinct_resamples(n: int) -> int:
    """Number of distinct bootstrap resamples (multisets) of n paired seeds: C(2n-1, n)."""
    return math.comb(2 * n - 1, n) if n > 0 else 0


@functools.lru_cache(maxsize=64)
def _sign_matrix(n: int, n_perm: int, seed: int) -> tuple[np.ndarray, bool]:
    if n <= 16:
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        signs = 1.0 - 2.0 * ((codes >> np.arange(n)) & 1)
        exact = True
    else:
        signs = np.random.default_rng([seed, n, 1]).choice([-1.0, 1.0], size=(n_perm, n))
        exact = False
    signs.setflags(write=False)
    return signs, exact


def sign_flip_test(d: np.ndarray, *, n_perm: int = 20_000, seed: int = 0) -> tuple[float, float]:
    """Two-sided paired permutation test (Fisher 1935; Pitman 1937) of mean(d) = 0 by sign flips.

    Exact over all 2^n sign patterns for n <= 16 (smallest attainable p = 2/2^n), else Monte Carlo
    with p = (1 + #{|T*| >= |T|}) / (n_perm + 1). Returns (p, smallest attainable p).
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n == 0:
        return math.nan, math.nan
    signs, exact = _sign_matrix(n, int(n_perm), int(seed))
    stat = np.abs(signs @ d)
    obs = abs(d.sum())
    tol = 1e-12 * max(1.0, float(np.abs(d).sum()))
    hits = int(np.count_nonzero(stat >= obs - tol))
    if exact:
        return hits / signs.shape[0], 2.0 / 2**n
    return (1 + hits) / (signs.shape[0] + 1), 1.0 / (signs.shape[0] + 1)


def paired_t(d: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Two-sided one-sample t-test of the paired differences (Student 1908) and its t-interval.

    Returns (p, ci_low, ci_high). Degenerate zero-variance differences give p = 1 when all are 0
    and p = 0 when they are one nonzero constant.
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n < 2:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    scale = max(1.0, float(np.abs(d).max()))
    if sd <= 1e-12 * scale:
        return (1.0 if abs(mean) <= 1e-12 * scale else 0.0), mean, mean
    se = sd / math.sqrt(n)
    t = mean / se
    p = float(2.0 * sps.t.sf(abs(t), n - 1))
    h = _t_quantile(0.5 + level / 2.0, n - 1) * se
    return p, mean - h, mean + h


@functools.lru_cache(maxsize=256)
def _t_quantile(q: float, df: int) -> float:
    return float(sps.t.ppf(q, df))


def _wilcoxon_p(d: np.ndarray) -> tuple[float, float]:
    d = np.asarray(d, dtype=np.float64)
    nz = d[d != 0]
    if nz.size == 0:
        return 1.0, math.nan
    res = sps.wilcoxon(nz, alternative="two-sided", method="exact" if nz.size <= 50 else "approx")
    return float(res.pvalue), 2.0 / 2**nz.size


@functools.lru_cache(maxsize=256)
def _mdd_factor(n: int, alpha: float, power: float) -> float:
    """delta/sigma at which a two-sided paired t-test with n pairs has the given power (noncentral t)."""
    if n < 2 or not 0 < alpha < 1 or not alpha < power < 1:
        return math.inf
    df = n - 1
    tc = float(sps.t.ppf(1.0 - alpha / 2.0, df))

    def excess(nc: float) -> float:
        upper = float(sps.nct.sf(tc, df, nc))
        if not np.isfinite(upper):
            upper = 1.0 - float(sps.nct.cdf(tc, df, nc))
        lower = float(sps.nct.cdf(-tc, df, nc))  # < alpha/2 for nc >= 0; scipy may return NaN far out
        return upper + (lower if np.isfinite(lower) else 0.0) - power

    hi = 4.0
    while excess(hi) < 0:
        hi *= 2.0
        if hi > 1e6:
            return math.inf
    nc = optimize.brentq(excess, 0.0, hi, xtol=1e-10, rtol=1e-12)
    return nc / math.sqrt(n)


def min_detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean paired difference a two-sided paired t-test at level ``alpha`` detects with
    probability ``power``, for n pairs whose differences have std ``sd``.

    Exact (noncentral t): solve P(|T| > t_{1-alpha/2, n-1}) = power, T ~ nct(n-1, delta*sqrt(n)/sd);
    close to the normal-theory formula delta = (t_{1-alpha/2, n-1} + t_{power, n-1}) * sd / sqrt(n).
    """
    return float(_mdd_factor(int(n), float(alpha), float(power)) * sd) if np.isfinite(sd) else math.nan


def _compare(d: np.ndarray, test: str, *, n_boot: int, seed: int, level: float) -> dict:
    n = d.size
    p_t, ci_t_lo, ci_t_hi = paired_t(d, level)
    p_perm, p_min_perm = sign_flip_test(d, seed=seed)
    lo, hi, kind = bootstrap_ci(d, n_boot=n_boot, level=level, seed=seed)
    if test == "t":
        p, p_min = p_t, 0.0
    elif test == "permutation":
        p, p_min = p_perm, p_min_perm
    else:
        p, p_min = _wilcoxon_p(d)
    sd = float(d.std(ddof=1)) if n >= 2 else math.nan
    return {
        "n": n,
        "diff": float(d.mean()) if n else math.nan,
        "sd_diff": sd,
        "ci_low": lo,
        "ci_high": hi,
        "ci_t_low": ci_t_lo,
        "ci_t_high": ci_t_hi,
        "bootstrap": kind,
        "n_distinct_resamples": n_distinct_resamples(n),
        "p_value": p,
        "p_t": p_t,
        "p_perm": p_perm,
        "p_min_perm": p_min_perm,
        "p_min_test": p_min,
    }


def paired_comparisons(
    df: pd.DataFrame,
    reference: str = "random",
    *,
    metric: str = "accuracy",
    test: str = "t",
    alpha: float = 0.05,
    power: float = 0.8,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
    exclude: Iterable[str] = ("full",),
) -> pd.DataFrame:
    """Every method against ``reference`` and against the best method, per setting, paired by seed.

    A setting is one (exp, dataset, noise, arch, target, ratio); a method is :func:`method_key`
    (scorer, strategy). The full-data reference (``exclude``) and ratio 0 are not compared but their
    mean is given as ``full_mean``. For each setting two kinds of rows:

    * ``comparison="vs_reference"``: method vs ``reference`` (``random``), for every other method;
    * ``comparison="vs_best"``: method vs the method with the highest mean at that setting.

    Pairs are the seeds both methods have (inner join on ``seed``); ``n`` counts them.
    ``diff`` = mean(method - other); ``ci_low``/``ci_high``: paired percentile bootstrap over seeds
    (``n_boot`` resamples from ``default_rng([seed, n])``, or exact enumeration when n^n <= n_boot;
    ``n_distinct_resamples`` = C(2n-1, n) says how coarse it is: 10 for 3 seeds). The percentile
    interval under-covers at small n (measured 0.68 / 0.83 / 0.90 at 3 / 5 / 10 seeds);
    ``ci_t_low``/``ci_t_high`` is the paired t-interval (nominal coverage under normality).

    ``test``: ``"t"`` (default, paired Student t), ``"permutation"`` (exact sign flips) or
    ``"wilcoxon"`` (exact signed-rank). Why t by default: per-seed accuracy is an average over the
    test set, so differences are near-normal; rank/permutation tests have a floor p >= 2/2^n
    (``p_min_perm``) and can never reject with < 6 seeds, before any multiplicity correction.
    ``p_t`` and ``p_perm`` are always reported; ``p_value`` is the chosen test's.

    ``p_holm``: Holm adjustment over all distinct (setting, unordered pair) tests of the table
    (a pair that appears both as vs_reference and vs_best is one test); ``significant`` =
    ``p_holm <= alpha``; ``verdict`` = ``better``/``worse`` (sign of ``diff``) or ``not significant``.

    ``mdd``: minimal detectable difference (see :func:`min_detectable_difference`) for this pair's n
    and observed ``sd_diff`` at per-comparison ``alpha`` and ``power``; ``mdd_holm`` uses the first
    Holm threshold alpha/m (m = family size), the worst case a comparison may face. With a rank or
    permutation test whose floor p exceeds alpha, the mdd is infinite.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    d = add_method_column(df)
    full = d[d["method"].isin(set(exclude)) | d["scorer"].isin(set(exclude))]
    d = _pruned_only(d, exclude)
    keys = present_keys(SETTING_KEYS, d)
    full_keys = present_keys(("exp", "dataset", "noise", "target"), full)
    full_means = full.groupby(full_keys)[metric].mean().to_dict() if len(full) else {}

    rows: list[dict] = []
    if d.empty:
        return pd.DataFrame(rows)
    # default dropna=True: dropna=False would reindex to the cartesian product of all key levels
    wide = d.pivot_table(index=[*keys, "seed"], columns="method", values=metric, aggfunc="mean")
    methods = [str(m) for m in wide.columns]
    values = wide.to_numpy(np.float64)
    for setting, pos in sorted(wide.groupby(level=keys, sort=True).indices.items()):
        setting = setting if isinstance(setting, tuple) else (setting,)
        x = values[pos]
        have = np.isfinite(x).any(axis=0)
        col = {m: j for j, m in enumerate(methods) if have[j]}
        if not col:
            continue
        means = {m: float(np.nanmean(x[:, j])) for m, j in col.items()}
        best = sorted(means, key=lambda m: (-means[m], m))[0]
        base = dict(zip(keys, setting))
        fk = tuple(base[k] for k in full_keys)
        full_mean = full_means.get(fk if len(fk) > 1 else fk[0], math.nan) if full_keys else math.nan
        pairs: list[tuple[str, str, str]] = []
        if reference in col:
            pairs += [("vs_reference", m, reference) for m in col if m != reference]
        pairs += [("vs_best", m, best) for m in col if m != best]
        for comparison, m, other in sorted(pairs, key=lambda t: (t[0], t[1])):
            a, b = x[:, col[m]], x[:, col[other]]
            ok = np.isfinite(a) & np.isfinite(b)
            diffs = a[ok] - b[ok]
            res = _compare(diffs, test, n_boot=n_boot, seed=seed, level=level)
            rows.append(
                {
                    **base,
                    "comparison": comparison,
                    "method": m,
                    "other": other,
                    "mean_method": float(a[ok].mean()) if ok.any() else math.nan,
                    "mean_other": float(b[ok].mean()) if ok.any() else math.nan,
                    "full_mean": full_mean,
                    **res,
                    "_pair": (setting, tuple(sorted((m, other)))),
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    # Holm over distinct tests
    uniq: dict = {}
    for pair, p in zip(out["_pair"], out["p_value"]):
        uniq.setdefault(pair, p)
    pair_list = list(uniq)
    adj = dict(zip(pair_list, holm([uniq[k] for k in pair_list])))
    m_family = int(np.isfinite(np.asarray(list(uniq.values()), dtype=float)).sum())
    out["p_holm"] = [adj[k] for k in out["_pair"]]
    out["family_size"] = m_family
    out["significant"] = np.asarray(out["p_holm"] <= alpha, dtype=bool)
    out["verdict"] = np.where(
        out["significant"] & (out["diff"] > 0),
        "better",
        np.where(out["significant"] & (out["diff"] < 0), "worse", "not significant"),
    )
    floor_ok = out["p_min_test"] <= alpha
    out["mdd"] = [
        min_detectable_difference(s, n, alpha, power) if ok else math.inf
        for s, n, ok in zip(out["sd_diff"], out["n"], floor_ok)
    ]
    a_holm = alpha / max(m_family, 1)
    out["mdd_holm"] = [
        min_detectable_difference(s, n, a_holm, power) if pm <= a_holm else math.inf
        for s, n, pm in zip(out["sd_diff"], out["n"], out["p_min_test"])
    ]
    out["test"] = test
    out = out.drop(columns=["_pair", "p_min_test"])
    if "regime" in d.columns:  # converged or not (the convergence check of the full-data reference)
        reg = d.groupby(keys)["regime"].first()
        out["regime"] = [reg.get(tuple(r[k] for k in keys), "unchecked") for _, r in out.iterrows()]
    if "empty_classes" in d.columns:  # flag subsets that left a class empty (no verdict on a ranking)
        worst = d.groupby([*keys, "method"])["empty_classes"].max()
        for col, who in (("empty_classes", "method"), ("empty_classes_other", "other")):
            out[col] = [int(worst.get((*(r[k] for k in keys), r[who]), 0)) for _, r in out.iterrows()]
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# ranks: Friedman + Nemenyi
# ---------------------------------------------------------------------------------------------


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """q_alpha of Demšar (2006), Table 5: studentized range quantile (infinite df) / sqrt(2)."""
    if k < 2:
        return math.nan
    return float(sps.studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def critical_difference(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference CD = q_alpha sqrt(k(k+1) / (6N)) (Demšar 2006, sec. 3.2.2)."""
    if k < 2 or n_blocks < 1:
        return math.nan
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n_blocks))


def iman_davenport(chi2: float, k: int, n_blocks: int) -> tuple[float, float]:
    """Iman & Davenport (1980) F_F = (N-1) chi2_F / (N(k-1) - chi2_F), F((k-1), (k-1)(N-1)) (Demšar 2006)."""
    den = n_blocks * (k - 1) - chi2
    if not np.isfinite(chi2) or k < 2 or n_blocks < 2:
        return math.nan, math.nan
    if den <= 0:
        return math.inf, 0.0
    f = (n_blocks - 1) * chi2 / den
    return float(f), float(sps.f.sf(f, k - 1, (k - 1) * (n_blocks - 1)))


def nemenyi_groups(avg_ranks: Mapping[str, float] | pd.Series, cd: float) -> list[tuple[str, ...]]:
    """Maximal runs of methods (sorted by average rank) whose ranks differ by less than ``cd``:
    the bars of a CD diagram. Two methods differ significantly iff their ranks differ by >= cd."""
    s = pd.Series(avg_ranks, dtype=float).sort_values(kind="stable")
    names, r = list(s.index), s.to_numpy()
    if not np.isfinite(cd):
        return []
    spans = []
    for i in range(len(r)):
        j = i
        while j + 1 < len(r) and r[j + 1] - r[i] < cd:
            j += 1
        if j > i:
            spans.append((i, j))
    maximal = [sp for sp in spans if not any(o != sp and o[0] <= sp[0] and sp[1] <= o[1] for o in spans)]
    return [tuple(names[i : j + 1]) for i, j in maximal]


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman test over blocks, Iman–Davenport correction, and the Nemenyi CD (Demšar 2006)."""

    statistic: float
    pvalue: float
    iman_davenport_f: float
    iman_davenport_p: float
    k: int
    n_blocks: int
    n_settings: int
    blocks: str
    block_keys: tuple[str, ...]
    alpha: float
    q_alpha: float
    cd: float
    groups: tuple[tuple[str, ...], ...]
    dropped_methods: tuple[str, ...] = field(default_factory=tuple)
    caption: str = ""

    def to_dict(self) -> dict:
        return {k: (list(map(list, v)) if k == "groups" else v) for k, v in self.__dict__.items()}


def _setting_means(d: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean over the seeds common to the methods of each setting (all seeds if none is common to all);
    wide (setting x method), NaN where a method has no run at that setting."""
    keys = present_keys(SETTING_KEYS, d)
    wide = d.pivot_table(index=[*keys, "seed"], columns="method", values=metric, aggfunc="mean")
    ok = wide.notna()
    present = ok.groupby(level=keys).transform("any")
    complete = (ok | ~present).all(axis=1)
    use = complete | ~complete.groupby(level=keys).transform("any")
    return wide[use].groupby(level=keys, sort=True).mean().sort_index(axis=1)


def _rank_rows(values: np.ndarray) -> np.ndarray:
    """Rank each row, 1 = highest value, ties get average ranks (values rounded to 10 decimals)."""
    return np.vstack([sps.rankdata(-np.round(row, 10), method="average") for row in values])


def _largest_complete_design(wide: pd.DataFrame) -> pd.DataFrame:
    """The complete block design with the most (method, setting) cells: among the method sets of the
    settings, the one whose methods appear together in the most settings, scored by
    |methods| × |settings| (ties: more methods). Returns those settings (rows) and methods (columns);
    the caller reports the other methods as left out. Studies that run two methods on many settings
    (a cross-architecture grid) then do not reduce a head-to-head of many methods to those two."""
    if wide.empty:
        return wide
    present = wide.notna()
    best, best_score = None, (-1, -1)
    for row in sorted({tuple(r) for r in present.to_numpy()}):
        cols = present.columns[list(row)]
        if len(cols) == 0:
            continue
        rows = present[cols].all(axis=1)
        score = (len(cols) * int(rows.sum()), len(cols))
        if score > best_score:
            best, best_score = (cols, rows), score
    cols, rows = best
    return wide.loc[rows, cols]


def rank_summary(
    df: pd.DataFrame,
    *,
    blocks: str = "aggregate_ratios",
    metric: str = "accuracy",
    alpha: float = 0.05,
    exclude: Iterable[str] = ("full",),
) -> tuple[pd.DataFrame, FriedmanResult, float]:
    """Average ranks, Friedman test and Nemenyi critical difference (Demšar 2006, JMLR 7, sec. 3.2.2).

    Ranking unit: each method's accuracy is averaged over the seeds common to all methods of a
    setting (exp, dataset, noise, arch, target, ratio); rank 1 = best, ties share the average rank.
    A complete block design is ranked: the method set and the settings where all of them were run that
    cover the most (method, setting) cells (:func:`_largest_complete_design`); the other methods are
    listed in ``dropped_methods``. The full-data reference and ratio 0 are excluded.

    Blocks (the independent "data sets" of Demšar's test):

    * ``"aggregate_ratios"`` (default, valid): a block is (exp, dataset, noise, arch, target); a
      method's value in a block is its mean accuracy over the block's pruning ratios (an
      area-under-the-pruning-curve summary). Ratios of one block share surrogates, seeds and test
      set, so they are correlated; counting them once keeps the Friedman/Nemenyi assumptions of
      independent blocks. N is then small in small studies, which the CD shows honestly.
    * ``"per_setting"``: every (…, ratio) setting is a block. Caveat: blocks are not independent,
      so the Friedman p-value and the CD are anti-conservative; use for description only.

    ``avg_rank_settings`` (ranks per setting averaged over all settings) is reported in both modes for
    display. Friedman: ``scipy.stats.friedmanchisquare`` (needs k >= 3 methods and N >= 2 blocks,
    else NaN), with the Iman–Davenport F. CD = q_alpha sqrt(k(k+1)/(6N)), q_alpha from
    ``scipy.stats.studentized_range`` (Demšar Table 5: 2.569 for k = 4 at alpha = 0.05).

    Returns (ranks DataFrame indexed by method, sorted by ``avg_rank``; FriedmanResult; cd).
    """
    if blocks not in ("aggregate_ratios", "per_setting"):
        raise ValueError(f"blocks must be 'aggregate_ratios' or 'per_setting', got {blocks!r}")
    d = _pruned_only(add_method_column(df), exclude)
    all_settings = _setting_means(d, metric)
    wide = _largest_complete_design(all_settings)
    dropped = tuple(sorted(set(all_settings.columns) - set(wide.columns)))
    setting_ranks = _rank_rows(wide.to_numpy()) if wide.size else np.empty((0, 0))
    block_keys = tuple(k for k in wide.index.names if k != "ratio")
    if blocks == "aggregate_ratios":
        bw = wide.groupby(level=list(block_keys), sort=True).mean() if wide.size else wide
    else:
        bw = wide
        block_keys = tuple(wide.index.names)
    values = bw.to_numpy(np.float64)
    ranks = _rank_rows(values) if values.size else np.empty((0, 0))
    k, n_blocks = values.shape[1] if values.ndim == 2 else 0, values.shape[0]
    methods = list(bw.columns)
    table = pd.DataFrame(
        {
            "avg_rank": ranks.mean(axis=0) if n_blocks else np.full(k, np.nan),
            "rank_sd": ranks.std(axis=0, ddof=1) if n_blocks > 1 else np.full(k, np.nan),
            "avg_rank_settings": setting_ranks.mean(axis=0) if setting_ranks.size else np.full(k, np.nan),
            f"mean_{metric}": values.mean(axis=0) if n_blocks else np.full(k, np.nan),
            "n_blocks": n_blocks,
            "n_settings": len(wide),
        },
        index=pd.Index(methods, name="method"),
    )
    table = table.sort_values(["avg_rank", "avg_rank_settings"], kind="stable")
    if k >= 3 and n_blocks >= 2:
        fr = sps.friedmanchisquare(*[values[:, j] for j in range(k)])
        chi2, p = float(fr.statistic), float(fr.pvalue)
    else:
        chi2, p = math.nan, math.nan
    ff, fp = iman_davenport(chi2, k, n_blocks)
    cd = critical_difference(k, n_blocks, alpha)
    groups = tuple(nemenyi_groups(table["avg_rank"], cd))
    caption = _rank_caption(blocks, block_keys, k, n_blocks, len(wide), chi2, p, ff, fp, alpha, cd, dropped)
    res = FriedmanResult(
        statistic=chi2, pvalue=p, iman_davenport_f=ff, iman_davenport_p=fp, k=k, n_blocks=n_blocks,
        n_settings=len(wide), blocks=blocks, block_keys=block_keys, alpha=alpha, q_alpha=nemenyi_q(k, alpha),
        cd=cd, groups=groups, dropped_methods=dropped, caption=caption,
    )  # fmt: skip
    return table, res, cd


def _rank_caption(blocks, block_keys, k, n, n_settings, chi2, p, ff, fp, alpha, cd, dropped) -> str:
    unit = ", ".join(block_keys)
    if blocks == "aggregate_ratios":
        how = (
            f"Average ranks (1 = best) of {k} methods over N = {n} blocks ({unit}); in each block a method's "
            "accuracy is averaged over seeds and over the pruning ratios, so the correlated ratios of one "
            "block count once."
        )
    else:
        how = (
            f"Average ranks (1 = best) of {k} methods over N = {n} settings ({unit}). Caveat: ratios of one "
            "dataset share surrogates, seeds and test set, so the settings are not independent blocks and the "
            "p-value and CD below are optimistic (descriptive only)."
        )
    if np.isfinite(chi2):
        test = f" Friedman chi2_F = {chi2:.3g}, p = {p:.3g}; Iman-Davenport F_F = {ff:.3g}, p = {fp:.3g}."
    else:
        test = " Friedman test not computable (needs >= 3 methods and >= 2 blocks)."
    cdtxt = (
        f" Nemenyi critical difference at alpha = {alpha:g}: CD = {cd:.3g}; methods joined by a bar do not differ "
        "significantly."
        if np.isfinite(cd)
        else ""
    )
    note = f" Left out (missing in some setting): {', '.join(dropped)}." if dropped else ""
    few = " With fewer than ~10 blocks the test has little power." if n < 10 else ""
    return how + test + cdtxt + few + note + f" ({n_settings} settings.)"

"""``prunebench analyze KIND``: tables and figures computed from contract files.

Each kind is ``fn(inputs: list[str], out: dict[str, str], **options)``; the
Snakemake rules in workflow/rules/figures.smk and studies.smk call them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .. import io
from .base import KINDS, kind


def _nan_to_none(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


@kind("significance")
def significance(inputs, out, reference: str = "random", test: str = "t", seed: int = 0):
    """Paired comparisons (vs random, vs best) with Holm correction → tables/significance.csv."""
    from ..stats import paired_comparisons

    df = pd.read_csv(inputs[0])
    io.write_dataframe(out["table"], paired_comparisons(df, reference=reference, test=test, seed=seed))


@kind("ranks")
def ranks(inputs, out, blocks: str = "aggregate_ratios"):
    """Average ranks, Friedman test and Nemenyi CD → tables/ranks.csv, ranks.json, CD diagram."""
    from ..plots.stats_plots import plot_cd_diagram
    from ..stats import rank_summary

    df = pd.read_csv(inputs[0])
    rk, fr, cd = rank_summary(df, blocks=blocks)
    io.write_dataframe(out["table"], rk.reset_index())  # the method names are the index
    io.write_json(out["json"], _nan_to_none(fr.to_dict()))
    plot_cd_diagram(rk, cd, out["pdf"], out["png"], title="Average rank over settings (1 = best)")


@kind("cost")
def cost(inputs, out, n_seeds: int = 1, attribution: str = "shared", retrain_ratios: list | None = None,
         ratios: list | None = None, variant_users: dict | None = None):
    """Cost table from benchmark files + timing sidecars; scoring-cost bars and accuracy-vs-compute."""
    from ..plots.stats_plots import plot_cost_vs_accuracy, plot_scoring_cost
    from .cost import build_cost_table, cost_accuracy, cost_table

    retrain = [p for p in inputs if p.endswith("retrain.csv")][0]
    bench = [p for p in inputs if p.endswith(".tsv")]
    timing = [p for p in inputs if p.endswith(".timing.json")]
    timing += [str(Path(p) / "surrogate.timing.json") for p in inputs  # surrogate variants: folders
               if Path(p).is_dir() and (Path(p) / "surrogate.timing.json").exists()]
    rr = {tuple(r[:6]): r[6] for r in (retrain_ratios or [])}  # (dataset, noise, arch, scorer, strategy, target)
    raw = build_cost_table(bench, timing, n_seeds=n_seeds, retrain_ratios=rr, ratios=ratios,
                           variant_users=variant_users)
    io.write_dataframe(out["raw"], raw)
    per_method = cost_table(raw, attribution=attribution)
    io.write_dataframe(out["table"], per_method)
    plot_scoring_cost(per_method, out["bars_pdf"], out["bars_png"])
    pts = cost_accuracy(pd.read_csv(retrain), per_method)
    plot_cost_vs_accuracy(pts, out["pareto_pdf"], out["pareto_png"])


@kind("correlation")
def correlation(inputs, out):
    """Spearman between all methods' scores (one setting, one seed) → clustered heatmap."""
    from ..paths import parse
    from ..plots.correlation import plot_correlation_heatmap, score_correlation

    files = {parse(p, "scores")["scorer"]: p for p in inputs}
    df = score_correlation(files)
    io.write_dataframe(out["table"], df.reset_index().rename(columns={"index": "method"}))
    plot_correlation_heatmap(df, out["pdf"], out["png"])


def run(name: str, inputs: list[str], out: dict[str, str], **options) -> None:
    from . import convergence  # noqa: F401  (the convergence check's kind, a step of the pipeline)
    from .registry import load_studies

    load_studies()  # every registered study is a kind too; an import error is a bug
    KINDS.get(name)(inputs, out, **options)

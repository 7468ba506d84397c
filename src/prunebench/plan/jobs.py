"""The retraining jobs of a config: every (dataset, noise, arch, scorer, strategy, ratio, target) setting,
the budgets of the budget study, and how settings are grouped into jobs (one per sweep)."""

from __future__ import annotations

import itertools
import re

from .. import paths
from .datasets import sweep_datasets
from .specs import ScorerSpec, protocol_pairs


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}"


WILDCARDS = {
    "exp": r"[A-Za-z0-9_.-]+",
    "dataset": r"[A-Za-z0-9_.-]+",
    "noise": r"clean|(sym|asym)\d{1,2}",
    "arch": r"[A-Za-z0-9_-]+",
    "target": r"[A-Za-z0-9_-]+",
    "scorer": r"[A-Za-z0-9_.-]+",
    "strategy": r"[A-Za-z0-9_]+",
    "ratio": r"\d\.\d\d",
    "s": r"\d+",
}


def alternation(names) -> str:
    names = sorted(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


#: the keys of one retrain job (all its ratios and seeds)
RETRAIN_KEYS = paths.SETTING_KEYS


def retrain_settings(cfg: dict, specs: dict[str, ScorerSpec]) -> list[dict]:
    """Every retrain job (all seeds in one job) the sweeps ask for, deduplicated.

    The full-data reference does not depend on any surrogate: it is trained once per
    (noise, target), stored under ``arch = target``."""
    out = set()
    for sw in cfg["sweeps"].values():
        for ds, noise, arch, target in itertools.product(sweep_datasets(cfg, sw), sw["noise"], sw["arch"],
                                                         sw.get("target", ["same"])):
            tgt = arch if target == "same" else target
            out.add((ds, noise, tgt, "full", "all", fmt_ratio(0), tgt))
        for (ds, noise, arch, name, strategy, tgt), ratios in sweep_jobs(cfg, specs, sw).items():
            out.update((ds, noise, arch, name, strategy, r, tgt) for r in ratios)
    keys = tuple(k for k in paths.keys("retrain") if k not in ("exp", "seed"))
    return [dict(zip(keys, t)) for t in sorted(out)]


def default_budget(cfg: dict) -> str:
    """The run's retraining budget (``retrain.budget``): the one behind the head-to-head tables."""
    return str((cfg.get("retrain") or {}).get("budget", "epochs"))


def sweep_budgets(cfg: dict, sw: dict) -> list[str]:
    """The budgets a sweep's runs are retrained under (sweep key ``budgets``), the run's own budget
    always first: it is the one every other table reads."""
    d = default_budget(cfg)
    return [d] + [str(b) for b in sw.get("budgets", []) if str(b) != d]


def budget_slug(budget: str) -> str:
    """A budget as a rule-name part (``x0.5`` → ``x0_5``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", budget)


def budget_settings(cfg: dict, specs: dict[str, ScorerSpec], own: bool = False) -> list[dict]:
    """The budget study's retrain runs: the settings of each sweep with a ``budgets`` key under each of its
    other budgets, or (``own=True``) under the run's own budget, whose files the head-to-head jobs make.
    Full-data references are left out: under ``epochs`` and ``steps`` full-data training is the same run,
    and its ``x2`` is the convergence check. Keys as :func:`retrain_settings` plus ``budget``."""
    out = set()
    for sw in cfg["sweeps"].values():
        others = sweep_budgets(cfg, sw)[1:]
        if not others:
            continue
        for b in [default_budget(cfg)] if own else others:
            for (ds, noise, arch, name, strategy, tgt), ratios in sweep_jobs(cfg, specs, sw).items():
                out.update((ds, noise, arch, name, strategy, r, tgt, b) for r in ratios)
    keys = (*(k for k in paths.keys("retrain") if k not in ("exp", "seed")), "budget")
    return [dict(zip(keys, t)) for t in sorted(out)]


def sweep_ratios(cfg: dict, sw: dict) -> list[float]:
    """A sweep's ratios: its list, or the global grid for ``all``."""
    return cfg["ratios"] if sw.get("ratios", "all") == "all" else sw["ratios"]


def sweep_jobs(cfg: dict, specs: dict[str, ScorerSpec], sw: dict) -> dict[tuple, frozenset]:
    """``{(dataset, noise, arch, scorer, strategy, target): ratios}``: the retrain jobs of one sweep."""
    ratios = sweep_ratios(cfg, sw)
    out = {}
    for ds, noise, arch, target in itertools.product(sweep_datasets(cfg, sw), sw["noise"], sw["arch"],
                                                     sw.get("target", ["same"])):
        for _, _, name, strategy in protocol_pairs(cfg, specs, sw):
            out[(ds, noise, arch, name, strategy, arch if target == "same" else target)] = frozenset(
                map(fmt_ratio, ratios))
    return out


def retrain_rule_order(groups: list[dict]) -> list[str]:
    """The retrain rules from the most ratios to the fewest (config order among equals): where sweeps
    overlap, the job with the superset of ratios makes the shared files (Snakemake ``ruleorder``)."""
    return [f"retrain_{g['name']}" for g in sorted(groups, key=lambda g: -len(g["ratios"]))]


def retrain_groups(cfg: dict, specs: dict[str, ScorerSpec]) -> list[dict]:
    """One retrain rule per sweep: a job trains every (ratio, seed) of one (dataset, noise, arch, scorer,
    strategy, target) — start-up (~2–3 s of imports) is paid once per method, not per run. Where two
    sweeps ask for the same files, the one with more ratios makes them (:func:`retrain_rule_order`). A sweep with
    ``budgets`` gets one more rule per other budget (``budget``: that budget; None: the run's own)."""
    groups = []
    for name, sw in cfg["sweeps"].items():
        pairs = protocol_pairs(cfg, specs, sw)
        names = sorted({p[2] for p in pairs})
        strategies = {p[3] for p in pairs}
        targets = {a if t == "same" else t for t in sw.get("target", ["same"]) for a in sw["arch"]}
        ratios = sweep_ratios(cfg, sw)
        group = {
            "name": re.sub(r"[^A-Za-z0-9_]", "_", name),
            "sweep": name,
            "dataset": sorted(sweep_datasets(cfg, sw)),
            "noise": sorted(sw["noise"]),
            "arch": sorted(sw["arch"]),
            "target": sorted(targets),
            "scorer": sorted(names),
            "strategy": sorted(strategies),
            "ratios": [fmt_ratio(r) for r in sorted(ratios)],
            "budget": None,
        }
        groups.append(group)
        for b in sweep_budgets(cfg, sw)[1:]:
            groups.append({**group, "name": f"{group['name']}_budget_{budget_slug(b)}", "budget": b,
                           "pairs": sorted({(p[2], p[3]) for p in pairs})})
    return groups


def budget_job_runs(group: dict, n_seeds: int) -> list[dict]:
    """The runs of one job of a budget group (one per dataset, noise, arch, target): every (scorer,
    strategy) of the sweep × ratio × seed. Retraining under another budget is cheap next to the start-up
    of a process (`import torch`), so a sweep's whole budget goes in one job, not one job per method."""
    return [{"scorer": sc, "strategy": st, "ratio": r, "seed": s}
            for sc, st in group["pairs"] for r in group["ratios"] for s in range(n_seeds)]

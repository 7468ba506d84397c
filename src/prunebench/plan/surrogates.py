"""The surrogate runs a config trains: recipes and checkpoint settings of the plain surrogate and of each
variant, their folders, and which runs a scorer's seed reads."""

from __future__ import annotations

from .. import paths
from .specs import ScorerSpec


def variant_recipe(cfg: dict, variant: str | None) -> dict:
    """The surrogate recipe of a variant: surrogate.recipe with the variant's keys replaced."""
    base = dict(cfg["surrogate"]["recipe"])
    if variant is None:
        return base
    return {**base, **((cfg.get("surrogate_variants") or {})[variant].get("recipe") or {})}


def surrogate_setting(cfg: dict, variant: str | None) -> dict:
    """T, checkpoint sampling, save_epochs and the eval pass of a surrogate (a variant may replace
    T and sampling: the MoSo release draws its checkpoints among epoch ends)."""
    sur = cfg["surrogate"]
    out = {"T": int(sur.get("T", 10)), "sampling": sur.get("sampling", "even"),
           "save_epochs": list(sur.get("save_epochs", [])), "eval_pass": bool(sur.get("eval_pass", True))}
    v = (cfg.get("surrogate_variants") or {}).get(variant) or {} if variant else {}
    out.update({k: v[k] for k in ("T", "sampling") if k in v})
    return out


def surrogate_seed_dir(keys, variant: str | None, seed: int) -> str:
    """The run folder of one seed (``keys``: exp, dataset, noise, arch): ``paths.TEMPLATES["surrogate"]`` for
    the plain recipe, ``["surrogate_variant"]`` for a variant (one job's directory output)."""
    here = {k: keys[k] for k in ("exp", "dataset", "noise", "arch")}
    if variant:
        return paths.rule_path("surrogate_variant", variant=variant, s=seed, **here)
    return paths.rule_path("surrogate", s=seed, **here)


def surrogate_run_dirs(cfg: dict, keys, variant: str | None, seed: int) -> list[str]:
    """The surrogate run folder(s) of one seed: :func:`surrogate_seed_dir`, or its ``part{k}``
    sub-folders when the variant is partitioned."""
    base = surrogate_seed_dir(keys, variant, seed)
    k = int(((cfg.get("surrogate_variants") or {}).get(variant) or {}).get("partitions", 1)) if variant else 1
    return [base] if k == 1 else [f"{base}/part{i}" for i in range(k)]


def variant_users(specs: dict[str, ScorerSpec]) -> dict[str, list[str]]:
    """``{surrogate variant: [scorers that read it]}`` (their own surrogate, for the cost table)."""
    out: dict[str, list[str]] = {}
    for name, spec in sorted(specs.items()):
        if spec.surrogate:
            out.setdefault(spec.surrogate, []).append(name)
    return out


def surrogate_seeds(spec: ScorerSpec, seed: int, n_seeds: int) -> list[int]:
    """Score seed s uses surrogate s, plus s+S, s+2S, … when averaging over K surrogates."""
    return [seed + j * n_seeds for j in range(spec.average_surrogates)]


def surrogate_epochs(cfg: dict) -> int:
    return int(cfg["surrogate"]["recipe"]["epochs"])

"""The workflow's plan, computed from the config: which scorers, settings and
files a run produces. The Snakefile calls these; they are unit-tested here.

Semantic checks the JSON schema cannot express (unknown method or model, J
larger than the number of epochs, T larger than the number of steps, sweep
ratios outside the global grid) raise ``ConfigError`` before any job runs.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field


class ConfigError(ValueError):
    pass


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}"


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    method: str
    params: dict = field(default_factory=dict)
    strategy: str = "keep"
    strategy_params: dict = field(default_factory=dict)
    keep: str = "high"
    kind: str = "score"  # score | solver | external
    needs_surrogate: bool = True
    average_surrogates: int = 1
    shell: str | None = None
    ablation: bool = False  # variants for ablation studies: not part of a sweep's "all"
    surrogate: str | None = None  # a name under surrogate_variants (None: the surrogate of surrogate.recipe)
    uniform_of: str | None = None  # a derived spec: scorer NAME read under the uniform protocol


#: top-level config keys that hold named entries. A config file (``--configfile``: a preset, the tests' tiny
#: config) states only what it changes: under these keys an entry it gives adds or replaces that entry whole,
#: ``NAME: null`` removes the default's entry, and ``replace: [KEY, ...]`` takes the file's entries alone.
#: Every other top-level key the file gives replaces the default's whole (a recipe is one unit).
NAMED_MAPS = ("scorers", "models", "surrogate_variants", "external_scorers")

#: the embedded default config (the repository's config/config.yaml)
DEFAULT_CONFIG = "config/config.yaml"


def merge_config(default: dict, given: dict) -> dict:
    """The effective config of ``given`` (a config file's mapping, plus any ``--config`` overrides) on top
    of ``default``: :data:`NAMED_MAPS` merged by entry, every other key replaced whole."""
    import copy

    given = dict(given)
    replace = given.pop("replace", None) or []
    if not isinstance(replace, list) or set(replace) - set(NAMED_MAPS):
        raise ConfigError(f"replace: {replace!r}: a list of keys among {list(NAMED_MAPS)} (the only keys merged "
                          "entry by entry; every other key a config file gives replaces the default's whole)")
    out = copy.deepcopy(default)
    for key in replace:
        out[key] = {k: copy.deepcopy(v) for k, v in (given.pop(key, None) or {}).items() if v is not None}
    for key, value in given.items():
        if key not in NAMED_MAPS or not isinstance(value, dict):
            out[key] = copy.deepcopy(value)
            continue
        merged = dict(out.get(key) or {})
        for name, entry in value.items():
            if entry is not None:
                merged[name] = copy.deepcopy(entry)
            elif name in merged:
                del merged[name]
            else:
                raise ConfigError(f"{key}.{name}: null removes an entry of the default config, which has no "
                                  f"{name!r} under {key} (the default's: {sorted(merged)})")
        out[key] = merged
    return out


def load_config(*files, default=None) -> dict:
    """The effective config of config files applied in order onto the default (``default``: a path, or
    the repository's :data:`DEFAULT_CONFIG`)."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load(Path(default or root / DEFAULT_CONFIG).read_text())
    for f in files:
        cfg = merge_config(cfg, yaml.safe_load(Path(f).read_text()) or {})
    return cfg


#: the sweep key ``protocols``: the method's authors' protocol, and the uniform one (global top-k in the
#: method's direction, scores read on the training pass with the registered defaults)
PROTOCOLS = ("release", "uniform")
UNIFORM_STRATEGY = "keep"


def dataset_id(cfg: dict) -> str:
    d = cfg["dataset"]
    return d.get("id") or d["name"]


def long_tail_id(base: str, ratio: int) -> str:
    """The dataset id of ``base``'s long-tailed variant (``digits-lt10``); ratio 1 is ``base`` itself."""
    return base if int(ratio) == 1 else f"{base}-lt{int(ratio)}"


def long_tail_ratio(dataset: str) -> int:
    """The imbalance ratio of a long-tailed dataset id (:func:`long_tail_id`'s inverse)."""
    return int(dataset.rsplit("-lt", 1)[1])


def sweep_datasets(cfg: dict, sw: dict) -> list[str]:
    """The dataset ids a sweep runs on: the configured dataset and/or its long-tailed variants
    (sweep key ``imbalance``, default [1])."""
    return [long_tail_id(dataset_id(cfg), r) for r in sw.get("imbalance", [1])]


def long_tail_datasets(cfg: dict) -> list[str]:
    """Every long-tailed dataset id the sweeps ask for (built by the ``long_tail`` rule)."""
    return sorted({d for sw in cfg["sweeps"].values() for d in sweep_datasets(cfg, sw)} - {dataset_id(cfg)})


def scorer_specs(cfg: dict) -> dict[str, ScorerSpec]:
    from .scorers import get_scorer

    specs: dict[str, ScorerSpec] = {}
    for name, entry in (cfg.get("scorers") or {}).items():
        entry = entry or {}
        method = entry.get("method", name)
        try:
            info = get_scorer(method)
        except KeyError as exc:
            raise ConfigError(f"scorers.{name}: {exc.args[0]}") from None
        params = {**info.defaults, **(entry.get("params") or {})}
        unknown = set(entry.get("params") or {}) - set(info.defaults)
        if unknown:
            raise ConfigError(f"scorers.{name}: unknown parameter(s) {sorted(unknown)} for {method}; "
                              f"known: {sorted(info.defaults)}")
        strategy = "solver" if info.kind == "solver" else entry.get("strategy", info.strategy)
        variant = entry.get("surrogate")
        if variant is not None:
            params = {**params, **_variant_params(cfg, name, method, variant, info)}
        specs[name] = ScorerSpec(name, method, params, strategy, entry.get("strategy_params") or {}, info.keep,
                                 info.kind, info.needs_surrogate, int(entry.get("average_surrogates", 1)),
                                 ablation=bool(entry.get("ablation", False)), surrogate=variant)
    for name, entry in (cfg.get("external_scorers") or {}).items():
        if name in specs:
            raise ConfigError(f"external_scorers.{name}: name already used by a registered scorer")
        specs[name] = ScorerSpec(name, name, {}, entry.get("strategy", "keep"), {}, entry.get("keep", "high"),
                                 "external", bool(entry.get("needs_surrogate", True)), 1, entry["shell"])
    if "full" in specs:
        raise ConfigError("'full' is reserved for the full-data reference")
    for sw in (cfg.get("sweeps") or {}).values():
        if "uniform" not in sw.get("protocols", ["release"]):
            continue
        for name in sweep_scorers(sw, specs):
            if name in specs and uniform_name(specs, name) not in specs:
                specs[uniform_name(specs, name)] = _uniform_spec(specs[name])
    return specs


def _uniform_params(spec: ScorerSpec) -> dict:
    from .scorers import get_scorer

    return {**spec.params, **get_scorer(spec.method).protocol.uniform}


def uniform_name(specs: dict[str, ScorerSpec], name: str) -> str:
    """The scorer that reads ``name``'s method under the uniform protocol: ``name`` itself when its
    parameters are already the uniform ones (only the selection differs), else ``{name}-uniform``."""
    spec = specs[name]
    if spec.kind != "score" or _uniform_params(spec) == spec.params:
        return name
    return f"{name}-uniform"


def _uniform_spec(spec: ScorerSpec) -> ScorerSpec:
    from dataclasses import replace

    return replace(spec, name=f"{spec.name}-uniform", params=_uniform_params(spec), strategy=UNIFORM_STRATEGY,
                   strategy_params={}, ablation=False, uniform_of=spec.name)


def reference_method(specs: dict[str, ScorerSpec], name: str = "random") -> str:
    """The tables' method name of the reference (random) under its release protocol: ``random+classbal``
    (DeepCore's uniform draws within each class), or ``random`` when configured with the global rule."""
    from .stats import method_key

    return method_key(name, specs[name].strategy) if name in specs else name


def protocol_pairs(cfg: dict, specs: dict[str, ScorerSpec], sw: dict) -> list[tuple[str, str, str, str]]:
    """``(method, protocol, scorer, strategy)`` of every scorer a sweep runs: the release protocol
    (the configured strategy, default = the release's selection) and, when the sweep's ``protocols``
    list it, the uniform protocol (the uniform scorer, global top-k). Solver methods have no uniform
    protocol (they write their subsets)."""
    out = []
    for name in sweep_scorers(sw, specs):
        spec = specs[name]
        protos = sw.get("protocols", ["release"])
        if "release" in protos:
            for st in sw.get("strategies", ["default"]):
                out.append((name, "release", name, spec.strategy if (st == "default" or spec.kind == "solver") else st))
        if "uniform" in protos and spec.kind != "solver":
            out.append((name, "uniform", uniform_name(specs, name), UNIFORM_STRATEGY))
    return out


def _variant_params(cfg: dict, name: str, method: str, variant: str, info) -> dict:
    """Check a scorer's ``surrogate:`` entry; a partitioned variant fixes the scorer's partition params."""
    variants = cfg.get("surrogate_variants") or {}
    if variant not in variants:
        raise ConfigError(f"scorers.{name}: surrogate {variant!r} is not defined under surrogate_variants "
                          f"(known: {', '.join(sorted(variants)) or 'none'})")
    if not info.needs_surrogate:
        raise ConfigError(f"scorers.{name}: {method} reads no surrogate, so 'surrogate' does not apply")
    v = variants[variant]
    if int(v.get("partitions", 1)) == 1:
        return {}
    if "partitions" not in info.defaults:
        raise ConfigError(f"scorers.{name}: surrogate {variant!r} is partitioned ({v['partitions']} parts), but "
                          f"{method} scores from one surrogate of the whole training set (only moso takes partitions)")
    return {"partitions": int(v["partitions"]), "partition_mode": v.get("partition_mode", "contiguous"),
            "partition_seed": int(v.get("partition_seed", 0))}


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


def surrogate_args(cfg: dict, variant: str | None) -> str:
    """``train-surrogate`` options for the checkpoints and the recorder of a surrogate (variant)."""
    st = surrogate_setting(cfg, variant)
    return (f"--T {st['T']} --sampling {st['sampling']} --save-epochs {' '.join(map(str, st['save_epochs']))} "
            f"{'--eval-pass' if st['eval_pass'] else '--no-eval-pass'}")


def partition_args(cfg: dict, variant: str) -> str:
    """``train-surrogate`` options of a partitioned variant ('' for a plain one)."""
    v = (cfg.get("surrogate_variants") or {})[variant]
    k = int(v.get("partitions", 1))
    if k == 1:
        return ""
    return (f"--partitions {k} --partition-mode {v.get('partition_mode', 'contiguous')} "
            f"--partition-seed {int(v.get('partition_seed', 0))}")


def surrogate_seed_dir(root: str, arch: str, variant: str | None, seed: int) -> str:
    """``{root}/surrogate/{arch}/seed{s}`` for the plain recipe, ``{root}/surrogate/{arch}/{variant}/seed{s}``
    for a variant (one job's directory output)."""
    return f"{root}/surrogate/{arch}/" + (f"{variant}/" if variant else "") + f"seed{seed}"


def surrogate_run_dirs(cfg: dict, root: str, arch: str, variant: str | None, seed: int) -> list[str]:
    """The surrogate run folder(s) of one seed: :func:`surrogate_seed_dir`, or its ``part{k}``
    sub-folders when the variant is partitioned."""
    base = surrogate_seed_dir(root, arch, variant, seed)
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


def _check_params(cfg: dict, specs: dict[str, ScorerSpec], n_train: int | None) -> None:
    T = int(cfg["surrogate"].get("T", 10))
    for s in specs.values():
        E = int(variant_recipe(cfg, s.surrogate)["epochs"])
        st = surrogate_setting(cfg, s.surrogate)
        if s.kind != "external":
            from .scorers import get_scorer

            t_key = f"surrogate_variants.{s.surrogate}.T" if s.surrogate and "T" in (
                cfg.get("surrogate_variants") or {})[s.surrogate] else "surrogate.T"
            msg = get_scorer(s.method).check_params(s.params, {**st, "epochs": E, "T_key": t_key})
            if msg:
                raise ConfigError(f"scorers.{s.name}: {msg}")
        if st["sampling"] == "epoch_random" and st["T"] > E - 1:
            raise ConfigError(f"surrogate_variants.{s.surrogate}: T = {st['T']} epoch ends drawn, but the recipe "
                              f"has only {E - 1} epoch ends before the last (epochs = {E})")
    if n_train is not None:
        rec = cfg["surrogate"]["recipe"]
        steps = rec.get("max_steps") or surrogate_epochs(cfg) * math.ceil(n_train / rec.get("batch_size", 128))
        if T > steps - 1:
            raise ConfigError(f"surrogate.T = {T} exceeds the {steps} training steps (at most {steps - 1} "
                              "checkpoints: the random initialisation is never one)")


#: training-set sizes of the datasets with their default options (checked by tests/test_config.py)
KNOWN_N_TRAIN = {"digits": 1347, "fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000,
                 "tiny_imagenet": 100000, "imagenet": 1281167}


def n_train_hint(cfg: dict, data_root: str = "data") -> int | None:
    """The training-set size without preparing the data: the prepared ``meta.json`` when it exists,
    else what the dataset's options imply; None when that is not known (then T is checked when
    the surrogate runs)."""
    import json
    from pathlib import Path

    meta = Path(data_root) / dataset_id(cfg) / "meta.json"
    if meta.exists():
        try:
            return int(json.loads(meta.read_text())["n_train"])
        except (ValueError, KeyError):
            return None
    d = cfg["dataset"]
    opts = d.get("options") or {}
    name = d["name"]
    if opts.get("n_train"):
        return min(int(opts["n_train"]), KNOWN_N_TRAIN.get(name, int(opts["n_train"])))
    if opts.get("n_per_class") or (name == "digits" and set(opts) - {"split_seed"}):
        return None  # a subset or another split: its size is known once prepared
    return KNOWN_N_TRAIN.get(name)


def check(cfg: dict, n_train: int | None = None) -> dict[str, ScorerSpec]:
    """Semantic checks; returns the scorer specs."""
    from .models import BUILTIN, is_known_model
    from .select import STRATEGIES, get_strategy

    specs = scorer_specs(cfg)
    _check_params(cfg, specs, n_train)
    get_strategy("keep")
    for name, sw in cfg["sweeps"].items():
        for a in list(sw["arch"]) + [t for t in sw.get("target", ["same"]) if t != "same"]:
            if not is_known_model(a):
                raise ConfigError(f"sweeps.{name}: unknown model {a!r}; known: {', '.join(BUILTIN)}, timm-<name>")
        for s in sweep_scorers(sw, specs):
            if s not in specs:
                raise ConfigError(f"sweeps.{name}: scorer {s!r} is not configured under scorers/external_scorers")
        for st in sw.get("strategies", ["default"]):
            if st != "default" and st not in STRATEGIES:
                raise ConfigError(f"sweeps.{name}: unknown strategy {st!r}; known: {', '.join(STRATEGIES.names())}")
        ratios = sw.get("ratios", "all")
        if ratios != "all":
            extra = sorted(set(map(fmt_ratio, ratios)) - set(map(fmt_ratio, cfg["ratios"])))
            if extra:
                raise ConfigError(f"sweeps.{name}: ratios {extra} are not in the global ratios list")
    _check_budgets(cfg)
    _check_overlaps(cfg, specs)
    for r in cfg["ratios"]:
        if not 0 < r < 1:
            raise ConfigError(f"ratio {r} must lie in (0, 1): ratio is the fraction removed")
    return specs


def only_sweeps(sweeps: dict, names) -> dict:
    """The sweeps named in ``only_sweeps`` (in config order), for a partial run of a study."""
    unknown = sorted(set(names) - set(sweeps))
    if unknown:
        raise ConfigError(f"only_sweeps: {unknown} not among the sweeps {sorted(sweeps)}")
    return {k: v for k, v in sweeps.items() if k in set(names)}


def sweep_scorers(sw: dict, specs: dict[str, ScorerSpec]) -> list[str]:
    """A sweep's scorers: its list, or every configured scorer that is not an ablation variant (nor a
    uniform-protocol copy: the sweep's ``protocols`` add those)."""
    if sw.get("scorers", "all") == "all":
        return [n for n, s in specs.items() if not s.ablation and not s.uniform_of]
    return list(sw["scorers"])


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
        for (ds, noise, arch, name, strategy, tgt), ratios in _sweep_jobs(cfg, specs, sw).items():
            out.update((ds, noise, arch, name, strategy, r, tgt) for r in ratios)
    keys = ("dataset", "noise", "arch", "scorer", "strategy", "ratio", "target")
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
            for (ds, noise, arch, name, strategy, tgt), ratios in _sweep_jobs(cfg, specs, sw).items():
                out.update((ds, noise, arch, name, strategy, r, tgt, b) for r in ratios)
    keys = ("dataset", "noise", "arch", "scorer", "strategy", "ratio", "target", "budget")
    return [dict(zip(keys, t)) for t in sorted(out)]


def _check_budgets(cfg: dict) -> None:
    from .retrain import parse_budget

    for name, sw in cfg["sweeps"].items():
        seen: dict[tuple, str] = {}
        for b in sweep_budgets(cfg, sw):
            try:
                key = parse_budget(b)
            except ValueError as exc:
                raise ConfigError(f"sweeps.{name}.budgets: {exc}") from None
            if key in seen:
                raise ConfigError(f"sweeps.{name}.budgets: {b!r} is the same budget as {seen[key]!r} "
                                  f"(retrain.budget = {default_budget(cfg)!r} is always run)")
            seen[key] = b


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


def sweep_ratios(cfg: dict, sw: dict) -> list[float]:
    """A sweep's ratios: its list, or the global grid for ``all``."""
    return cfg["ratios"] if sw.get("ratios", "all") == "all" else sw["ratios"]


def _sweep_jobs(cfg: dict, specs: dict[str, ScorerSpec], sw: dict) -> dict[tuple, frozenset]:
    """``{(dataset, noise, arch, scorer, strategy, target): ratios}``: the retrain jobs of one sweep."""
    ratios = sweep_ratios(cfg, sw)
    out = {}
    for ds, noise, arch, target in itertools.product(sweep_datasets(cfg, sw), sw["noise"], sw["arch"],
                                                     sw.get("target", ["same"])):
        for _, _, name, strategy in protocol_pairs(cfg, specs, sw):
            out[(ds, noise, arch, name, strategy, arch if target == "same" else target)] = frozenset(
                map(fmt_ratio, ratios))
    return out


_JOB_KEYS = ("dataset", "noise", "arch", "scorer", "strategy", "target")


def _check_overlaps(cfg: dict, specs: dict[str, ScorerSpec]) -> None:
    """One job trains every ratio of a method in a setting, so the retrain rule Snakemake picks for a
    method's files (:func:`retrain_rule_order`: the first whose wildcards match) must list every ratio
    any sweep asks of it; and one job trains a sweep's whole other budget, so two sweeps may not ask
    for the same run under the same other budget. Otherwise two jobs would write one file."""
    groups = retrain_groups(cfg, specs)
    order = {n: i for i, n in enumerate(retrain_rule_order(groups))}
    mine = sorted((g for g in groups if g["budget"] is None), key=lambda g: order[f"retrain_{g['name']}"])
    wanted: dict[tuple, set] = {}
    by: dict[tuple, list] = {}
    seen: dict[tuple, str] = {}
    for name, sw in cfg["sweeps"].items():
        for key, ratios in _sweep_jobs(cfg, specs, sw).items():
            wanted.setdefault(key, set()).update(ratios)
            by.setdefault(key, []).append(name)
            for b, r in itertools.product(sweep_budgets(cfg, sw)[1:], sorted(ratios)):
                if (key, b, r) in seen:
                    raise ConfigError(
                        f"sweeps.{seen[key, b, r]} and sweeps.{name} both retrain {key[3]} ({key[4]}) at ratio {r} "
                        f"under budget {b!r}: one job per sweep trains a budget's runs, so list that budget in "
                        "one of them only")
                seen[key, b, r] = name
    for key, ratios in sorted(wanted.items()):
        first = next(g for g in mine if all(v in g[k] for k, v in zip(_JOB_KEYS, key)))
        if not ratios <= set(first["ratios"]):
            ds, noise, arch, scorer, strategy, target = key
            raise ConfigError(
                f"sweeps {', '.join(by[key])} retrain {scorer} ({strategy}) on {ds}/{noise}, {arch}→{target} at "
                f"ratios {', '.join(sorted(ratios))}, but sweeps.{first['sweep']} (the one with the most ratios, "
                f"whose job makes these files) lists only {', '.join(first['ratios'])}: one job trains every "
                "ratio of a method, so add the missing ratios to it or drop them from the others")


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

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

from . import paths


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
    of ``default``: :data:`NAMED_MAPS` merged by entry, every other key replaced whole. One of them given
    as ``{}`` (over a default with entries) is refused: it would remove nothing, silently."""
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
        if not value and merged:
            raise ConfigError(
                f"{key}: {{}} removes nothing: a config file's {key} merge entry by entry with the default "
                f"config's, so an empty map leaves all {len(merged)} of the default's ({', '.join(sorted(merged))}). "
                f"To remove entries, set them to null ({key}: {{{sorted(merged)[0]}: null}}); to replace the whole "
                f"map, add replace: [{key}] and list the entries to keep under {key}")
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


def snakemake_command(configfiles) -> str:
    """The command line that runs the plan of ``configfiles`` (named in rebuild hints)."""
    import shlex

    return " ".join(["snakemake --cores all"] + [f"--configfile {shlex.quote(str(f))}" for f in configfiles])


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


#: the keys of one retrain job (all its ratios and seeds)
RETRAIN_KEYS = ("dataset", "noise", "arch", "scorer", "strategy", "target")


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
        first = next(g for g in mine if all(v in g[k] for k, v in zip(RETRAIN_KEYS, key)))
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


# --- the files each rule waits for (the Snakefile's input builders) ----------------------------------

_RUN_FILES = ("surrogate.json", "dynamics.npz", "model.pt", "train_log.csv")


class Files:
    """The contract files of one run, as pure functions of its effective config and its scorer specs
    (:func:`check`): what each rule waits for, what ``rule all`` asks for. ``w`` arguments are a rule's
    wildcards (any mapping with the keys ``exp``, ``dataset``, ``noise``, ``arch``, ``scorer``)."""

    def __init__(self, cfg: dict, specs: dict[str, ScorerSpec]) -> None:
        self.cfg, self.specs = cfg, specs
        self.exp, self.dataset = cfg["name"], dataset_id(cfg)
        self.seeds = list(range(cfg["seeds"]))
        self.retrain = retrain_settings(cfg, specs)
        self.budget = budget_settings(cfg, specs)
        self.groups = retrain_groups(cfg, specs)
        self.full_refs = [st for st in self.retrain if st["scorer"] == "full"]
        self.convergence_check = bool((cfg.get("retrain") or {}).get("convergence_check", True))

    @staticmethod
    def _root(exp: str, dataset: str, noise: str) -> str:
        """The folder of one (dataset, noise) setting: surrogates, scores, subsets, results."""
        return f"results/{exp}/{dataset}/{noise}"

    def table(self, name: str) -> str:
        return paths.rule_path("table", exp=self.exp, name=name)

    def figure(self, name: str) -> str:
        return paths.rule_path("figure", exp=self.exp, name=name)

    # surrogates
    def surrogate_dirs(self, w, seed: int) -> list[str]:
        """The surrogate runs one seed of scorer ``w["scorer"]`` reads (none for random)."""
        spec = self.specs[w["scorer"]]
        if not spec.needs_surrogate:
            return []
        root = self._root(w["exp"], w["dataset"], w["noise"])
        out = []
        for k in surrogate_seeds(spec, int(seed), len(self.seeds)):
            out += surrogate_run_dirs(self.cfg, root, w["arch"], spec.surrogate, k)
        return out

    def surrogate_dirs_all_seeds(self, w) -> list[str]:
        return [d for s in self.seeds for d in self.surrogate_dirs(w, s)]

    def surrogate_inputs(self, w) -> list[str]:
        """What a scoring job waits for: each plain surrogate run's surrogate.json, or the folder of each
        seed of a surrogate variant (one job writes it, partitions included)."""
        spec = self.specs[w["scorer"]]
        if not spec.needs_surrogate:
            return []
        if spec.surrogate is None:
            return [f"{d}/surrogate.json" for d in self.surrogate_dirs_all_seeds(w)]
        root = self._root(w["exp"], w["dataset"], w["noise"])
        return sorted({surrogate_seed_dir(root, w["arch"], spec.surrogate, k)
                       for s in self.seeds for k in surrogate_seeds(spec, s, len(self.seeds))})

    # retraining
    @staticmethod
    def retrain_dir(budget: str | None = None) -> str:
        """Where retrain results go: retrain/ under the run's budget, budget/{budget}/ under another one."""
        return "retrain" if budget is None else f"budget/{budget}"

    def retrain_files(self, settings) -> list[str]:
        """Retrain results of ``settings`` (every seed); a setting with a "budget" other than the run's own
        lives under budget/{budget}/ (the budget study)."""
        own = default_budget(self.cfg)
        out = []
        for st in settings:
            b = st.get("budget")
            keys = {k: v for k, v in st.items() if k != "budget"}
            d = self.retrain_dir(None if b in (None, own) else b)
            out += [paths.rule_path("retrain", dir=d, exp=self.exp, s=s, **keys) for s in self.seeds]
        return out

    def budget_job_paths(self, grp: dict, kind: str) -> list[str]:
        """Subsets (kind "subsets") or results (kind "budget") of one budget job, in its runs' order, with
        {exp}, {dataset}, {noise}, {arch} and {target} left as wildcards."""
        out = []
        for run in budget_job_runs(grp, len(self.seeds)):
            keys = dict(scorer=run["scorer"], strategy=run["strategy"], ratio=run["ratio"], s=run["seed"])
            if kind == "subsets":
                out.append(paths.rule_path("subset", ".npy", **keys))
            else:
                out.append(paths.rule_path("retrain", dir=self.retrain_dir(grp["budget"]), **keys))
        return out

    def budget_job_args(self, grp: dict) -> str:
        """--seeds and --ratios of one budget job, one entry per run."""
        runs = budget_job_runs(grp, len(self.seeds))
        return "--seeds {} --ratios {}".format(" ".join(str(r["seed"]) for r in runs),
                                               " ".join(r["ratio"] for r in runs))

    def budget_job_keys(self, w, grp: dict) -> list[dict]:
        """The path keys of each run of one budget job (the job's --keys)."""
        return [{"exp": w["exp"], "dataset": w["dataset"], "noise": w["noise"], "arch": w["arch"],
                 "scorer": r["scorer"], "strategy": r["strategy"]} for r in budget_job_runs(grp, len(self.seeds))]

    def budget_files(self) -> list[str]:
        """The budget study's runs: each budget sweep's runs under the run's budget, then under the others."""
        return self.retrain_files(budget_settings(self.cfg, self.specs, own=True) + self.budget)

    def convergence_files(self) -> list[str]:
        """The 2x-epoch runs of every full-data reference (the convergence check)."""
        if not self.convergence_check:
            return []
        return sorted(paths.rule_path("convergence", exp=self.exp, dataset=st["dataset"], noise=st["noise"],
                                           arch=st["target"], s=s) for st in self.full_refs for s in self.seeds)

    def convergence_table(self) -> list[str]:
        return [self.table("convergence.csv")] if self.convergence_check else []

    def retrain_job_ratios(self) -> list[list]:
        """For the cost table: the ratios each retrain job trains (its group's), first group wins."""
        out: dict[tuple, list[float]] = {}
        for g in self.groups:
            if g["budget"] is not None:
                continue  # the budget study's other budgets: not behind the head-to-head tables
            for st in self.retrain:
                k = tuple(st[f] for f in RETRAIN_KEYS)
                if k in out or st["scorer"] == "full":
                    continue
                if all(st[f] in g[f] for f in RETRAIN_KEYS):
                    out[k] = [float(r) for r in g["ratios"]]
        return [list(k) + [v] for k, v in sorted(out.items())]

    # the head-to-head setting
    def main_setting(self) -> tuple[str, str]:
        """(noise, arch) of the head-to-head figure: the first sweep's first entries."""
        sw = next(iter(self.cfg["sweeps"].values()))
        return sw["noise"][0], sw["arch"][0]

    def in_main(self, st: dict) -> bool:
        """A retrain setting of the head-to-head: the configured dataset, the first sweep's noise and arch."""
        noise, arch = self.main_setting()
        return st["dataset"] == self.dataset and st["noise"] == noise and st["arch"] == arch

    def _main_scorers(self) -> list[str]:
        return sorted({st["scorer"] for st in self.retrain if self.in_main(st) and st["scorer"] != "full"})

    def score_files_main(self, seed: int = 0) -> list[str]:
        noise, arch = self.main_setting()
        return [paths.scores_path(self.exp, self.dataset, noise, arch, n, seed) for n in self._main_scorers()]

    def subset_files(self, pred, seeds=None) -> list[str]:
        """Subsets (every seed, or ``seeds``) of the retrain settings ``pred`` accepts, full data left out."""
        return sorted({paths.subset_path(self.exp, st["dataset"], st["noise"], st["arch"], st["scorer"],
                                              st["strategy"], st["ratio"], s)
                       for st in self.retrain if st["scorer"] != "full" and pred(st)
                       for s in (self.seeds if seeds is None else seeds)})

    def main_inputs(self, seeds) -> tuple[list[str], list[str], str]:
        """Score files and subsets of the head-to-head setting, and its labels."""
        noise, arch = self.main_setting()
        subs = self.subset_files(lambda st: self.in_main(st) and st["target"] == arch, seeds)
        scores = [paths.scores_path(self.exp, self.dataset, noise, arch, n, s)
                  for n in self._main_scorers() for s in seeds]
        return scores, subs, paths.labels_path(self.exp, self.dataset, noise)

    # the studies' inputs
    def noisy_inputs(self) -> list[str]:
        """Subsets of the noisy settings and their labels (the evaluation reads 'flipped')."""
        subs = self.subset_files(lambda st: st["noise"] != "clean")
        noisy = sorted({(st["dataset"], st["noise"]) for st in self.retrain if st["noise"] != "clean"})
        return subs + [paths.labels_path(self.exp, d, n) for d, n in noisy]

    def ablation_inputs(self) -> list[str]:
        """Score files (all seeds) of the ablation variants and their reference settings."""
        names = set()
        for n, spec in self.specs.items():
            if spec.ablation:
                names.add(n)
                if spec.method in self.specs:
                    names.add(spec.method)
        noise, arch = self.main_setting()
        return [paths.scores_path(self.exp, self.dataset, noise, arch, n, s)
                for n in sorted(names) for s in self.seeds]

    def imbalance_inputs(self) -> list[str]:
        """Retrain results of the long-tailed settings and of the same settings on the dataset as
        prepared (the balanced comparison), full-data runs included."""
        lt = set(long_tail_datasets(self.cfg))

        def key(st):
            return tuple(st[f] for f in RETRAIN_KEYS[1:])

        wanted = {key(st) for st in self.retrain if st["dataset"] in lt}
        sel = [st for st in self.retrain if st["dataset"] in lt | {self.dataset} and key(st) in wanted]
        return sorted(set(self.retrain_files(sel)))

    def protocol_pairs_all(self) -> list[tuple]:
        """(method, protocol, scorer, strategy) of the sweeps that run the uniform protocol too."""
        pairs = set()
        for sw in self.cfg["sweeps"].values():
            if "uniform" in sw.get("protocols", ["release"]):
                pairs.update(protocol_pairs(self.cfg, self.specs, sw))
        return sorted(pairs)

    def cost_inputs(self) -> list[str]:
        """Benchmark files of every job behind the retrain results, plus timing sidecars."""
        exp = self.exp
        files = set()
        for st in self.retrain:
            d, nz, a, sc, sg, t = (st[k] for k in RETRAIN_KEYS)
            here = dict(exp=exp, dataset=d, noise=nz, arch=a)
            if sc == "full":
                files.add(paths.benchmark_path("retrain_full", **here))
                continue
            files.add(paths.benchmark_path("retrain", scorer=sc, strategy=sg, target=t, **here))
            spec = self.specs[sc]
            if spec.kind == "external":
                files.update(paths.benchmark_path("scores_seed", scorer=sc, s=s, **here) for s in self.seeds)
            else:
                files.add(paths.benchmark_path("scores", scorer=sc, **here))
                files.update(paths.rule_path("scores", ".timing.json", scorer=sc, s=s, **here) for s in self.seeds)
            if spec.kind != "solver":
                files.add(paths.benchmark_path("select", scorer=sc, strategy=sg, **here))
            if spec.needs_surrogate:
                for s in self.seeds:
                    if spec.surrogate:
                        files.add(paths.benchmark_path("surrogate_variant", variant=spec.surrogate, s=s, **here))
                    else:
                        files.add(paths.benchmark_path("surrogate", s=s, **here))
                    # a variant's run is one directory output: its timing sidecar is read inside it
                    run = surrogate_seed_dir(self._root(exp, d, nz), a, spec.surrogate, s)
                    files.add(run if spec.surrogate else f"{run}/surrogate.timing.json")
        return sorted(files)

    # what `rule all` asks for
    def study_outputs(self) -> list[str]:
        """Figures of the studies the config has: budget (a sweep with other budgets), protocol (a sweep with
        the uniform protocol), class imbalance (a long-tailed dataset), noise (a noisy setting), ablation
        (variants), and the figures each scorer's own studies add (``register_scorer(studies=…)``)."""
        from .scorers import get_scorer

        fig = self.figure
        out = []
        if self.budget:
            out += [fig("budget.pdf"), fig("budget.png")]
        if self.protocol_pairs_all():
            out += [fig("protocol.pdf"), fig("protocol.png")]
        if long_tail_datasets(self.cfg):
            out.append(fig("imbalance.pdf"))
        if any(st["noise"] != "clean" for st in self.retrain):
            out.append(fig("noisy_removed.pdf"))
        if any(s.ablation for s in self.specs.values()):
            out.append(fig("ablation.pdf"))
        noise, arch = self.main_setting()
        for name, spec in self.specs.items():
            if spec.kind == "external" or spec.ablation or spec.uniform_of:
                continue
            out += [f"results/{self.exp}/" + t.format(dataset=self.dataset, noise=noise, arch=arch, name=name)
                    for t in get_scorer(spec.method).studies]
        return sorted(set(out))

    def contract_files(self) -> list[str]:
        """Every contract file behind the tables: prepared data, labels, surrogate runs, score files and their
        meta, subsets, retrain results. Snakemake does not rebuild a missing intermediate file whose
        consumers are up to date, so without these in rule all a deleted (or, after a failed job, removed)
        contract file would stay missing while `snakemake -n` says there is nothing to be done."""
        exp = self.exp
        out = set(self.retrain_files(self.retrain)) | set(self.convergence_files()) | set(self.budget_files())
        for st in self.retrain:
            ds, nz, arch, sc = (st[k] for k in ("dataset", "noise", "arch", "scorer"))
            here = dict(exp=exp, dataset=ds, noise=nz, arch=arch)
            out.update(paths.rule_path("data", f, dataset=ds) for f in ("train.npz", "test.npz", "meta.json"))
            out.add(paths.labels_path(exp, ds, nz))
            out.add(paths.rule_path("labels_meta", exp=exp, dataset=ds, noise=nz))
            if sc == "full":
                full = dict(scorer="full", strategy="all", ratio="0.00")
                out.update(paths.rule_path("subset", ext, s=s, **here, **full)
                           for s in self.seeds for ext in (".npy", ".meta.json"))
                continue
            spec = self.specs[sc]
            subset = dict(scorer=sc, strategy=st["strategy"], ratio=st["ratio"])
            for s in self.seeds:
                out.update(paths.rule_path("scores", ext, scorer=sc, s=s, **here) for ext in (".csv", ".meta.json"))
                out.update(paths.rule_path("subset", ext, s=s, **here, **subset) for ext in (".npy", ".meta.json"))
                if not spec.needs_surrogate:
                    continue
                for k in surrogate_seeds(spec, s, len(self.seeds)):
                    run = surrogate_seed_dir(self._root(exp, ds, nz), arch, spec.surrogate, k)
                    if spec.surrogate:
                        out.add(run)  # a variant's run is one directory output
                    else:
                        out.update(f"{run}/{f}" for f in _RUN_FILES)
        return sorted(out)

    def final_outputs(self) -> list[str]:
        """What ``rule all`` asks for: the tables, the head-to-head figures, the studies' figures and every
        contract file."""
        return ([self.table(t) for t in ("retrain.csv", "accuracy.csv")]
                + [self.figure(f"accuracy_vs_ratio.{e}") for e in ("pdf", "png")]
                + [self.table("significance.csv")]
                + [self.figure(f"{f}.pdf") for f in ("cd_diagram", "scoring_cost", "cost_vs_accuracy",
                                                       "score_correlation", "noise_grid", "crossarch_gain",
                                                       "score_stability", "lossless_ratio", "class_composition")]
                + self.study_outputs() + self.contract_files())

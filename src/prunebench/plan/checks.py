"""Config checks run when Snakemake plans (``snakemake -n``), before any job can delete a built file.

The schema (:mod:`prunebench.plan.schema`) catches wrong types and ranges; :func:`check` the scorers'
parameters, models, strategies, sweeps and budgets; the rest what a user's mistake would otherwise turn
into a failed job — and a failed job's outputs, built earlier, are deleted by Snakemake:

* :func:`check_models` — ``models.*`` keyword arguments against the model builder's signature;
* :func:`check_dataset` — ``dataset.options`` against the loader's options, and the prepared
  ``data/{id}/`` against what this config would prepare (two experiments must not overwrite each
  other's data);
* :func:`check_ratios` — ratios the two-decimal path key ``r{ratio:.2f}`` cannot hold exactly,
  duplicates, ratios that keep fewer samples than there are classes (the configured dataset and the
  long-tailed variants the sweeps train on);
* :func:`check_external_shells` — braces in an external scorer's shell line;
* :func:`refuse_workflow_dir` — Snakemake started inside ``workflow/`` would write ``workflow/results``.

Every check raises :class:`ConfigError` with a message that names the key and the fix. Nothing here
imports torch unless a timm model is given keyword arguments (then once per change: the answer is cached
under ``.snakemake/prunebench/``).
"""

from __future__ import annotations

import itertools
import json
import math
import string
from pathlib import Path

from .. import io
from ..data.base import NON_CONTENT_OPTIONS
from .config import ConfigError
from .datasets import (
    dataset_id,
    in_shape_hint,
    num_classes_hint,
)
from .jobs import (
    RETRAIN_KEYS,
    default_budget,
    fmt_ratio,
    retrain_groups,
    retrain_rule_order,
    sweep_budgets,
    sweep_jobs,
)
from .ratios import check_ratios
from .specs import ScorerSpec, scorer_specs, sweep_scorers
from .surrogates import surrogate_epochs, surrogate_setting, variant_recipe


def refuse_workflow_dir(basedir: str | Path, cwd: str | Path | None = None) -> None:
    """Snakemake started in ``workflow/`` (it finds ``workflow/Snakefile`` there) would put ``data/`` and
    ``results/`` under ``workflow/`` and start a new tree from nothing."""
    base = Path(basedir).resolve()
    here = Path(cwd or Path.cwd()).resolve()
    if here == base or base in here.parents:
        raise ConfigError(f"snakemake runs in {here}, inside the workflow folder: data/ and results/ would be "
                          f"created under it and every job rerun from nothing. Run it from the repository root: "
                          f"cd {base.parent} && snakemake ...")


def check(cfg: dict, n_train: int | None = None) -> dict[str, ScorerSpec]:
    """Semantic checks; returns the scorer specs."""
    from ..models import builtin_models, is_known_model
    from ..select import STRATEGIES, get_strategy

    specs = scorer_specs(cfg)
    _check_params(cfg, specs, n_train)
    get_strategy("keep")
    for name, sw in cfg["sweeps"].items():
        for a in list(sw["arch"]) + [t for t in sw.get("target", ["same"]) if t != "same"]:
            if not is_known_model(a):
                raise ConfigError(f"sweeps.{name}: unknown model {a!r}; known: {', '.join(builtin_models())}, "
                                  "timm-<name>")
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


def _check_params(cfg: dict, specs: dict[str, ScorerSpec], n_train: int | None) -> None:
    T = int(cfg["surrogate"].get("T", 10))
    for s in specs.values():
        E = int(variant_recipe(cfg, s.surrogate)["epochs"])
        st = surrogate_setting(cfg, s.surrogate)
        if s.kind != "external":
            from ..scorers import get_scorer

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


def _check_budgets(cfg: dict) -> None:
    from ..retrain import parse_budget

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
        for key, ratios in sweep_jobs(cfg, specs, sw).items():
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


#: arguments prunebench sets itself when it builds a model
RESERVED_MODEL_ARGS = frozenset({"in_shape", "num_classes", "in_chans", "img_size", "pretrained"})


def check_models(cfg: dict, in_shape: tuple[int, int, int] | None = None, cache_dir: str | Path | None = None) -> None:
    """``models.NAME`` must be a known model and its keyword arguments ones its builder takes."""
    from ..models import builtin_models, is_known_model

    for name, kw in (cfg.get("models") or {}).items():
        kw = kw or {}
        if not is_known_model(name):
            raise ConfigError(f"models.{name}: unknown model {name!r}; known: {', '.join(builtin_models())}, "
                              "timm-<name>")
        reserved = sorted(set(kw) & RESERVED_MODEL_ARGS)
        if reserved:
            raise ConfigError(f"models.{name}: {reserved} are set by prunebench from the data; remove them")
        if name in builtin_models():
            unknown = sorted(set(kw) - set(builtin_models()[name]))
            if unknown:
                raise ConfigError(f"models.{name}: unknown keyword argument(s) {unknown} for {name}; it takes "
                                  f"{', '.join(builtin_models()[name]) or 'none'}")
        elif name.startswith(("timm-", "timm:")) and kw:
            problem = _timm_kwargs_problem(name[5:], kw, in_shape or (3, 32, 32), cache_dir)
            if problem:
                raise ConfigError(f"models.{name}: {problem}")


def _timm_kwargs_problem(name: str, kw: dict, in_shape, cache_dir) -> str | None:
    """Build the timm model on the meta device (no memory, no weights): a TypeError for an unexpected
    keyword is the config's mistake; anything else is left for the job to report. Cached by
    (timm version, name, kwargs, shape) so the ~3 s torch import is paid once per change."""
    try:
        from importlib.metadata import version

        timm_version = version("timm")
    except Exception:  # pragma: no cover - timm is a dependency
        return None
    key = json.dumps([timm_version, name, kw, list(in_shape)], sort_keys=True)
    cache = Path(cache_dir) / "model_kwargs.json" if cache_dir else None
    known = {}
    if cache is not None and cache.exists():
        try:
            known = io.read_json(cache)  # checked against its own sha256; a damaged cache is asked again
        except ValueError:
            known = {}
    if key in known:
        return known[key]
    import timm
    import torch

    from ..models.zoo import build_timm

    problem = None
    try:
        with torch.device("meta"):
            build_timm(name, tuple(in_shape), 10, **kw)
    except TypeError as exc:
        if "keyword argument" in str(exc):
            problem = (f"timm model {name!r} does not take keyword argument(s) {sorted(kw)} as given ({exc}; "
                       f"timm {timm.__version__}); fix the name or remove it")
    except Exception:  # noqa: BLE001 - other failures (shape constraints, ...) are the job's to report
        problem = None
    if cache is not None:

        io.write_json(cache, {**known, key: problem})
    return problem


def _prepared_record(meta: dict) -> dict | None:
    return meta.get("prepared_with")


def _options_key(opts: dict) -> dict:
    return {k: v for k, v in sorted(opts.items()) if k not in NON_CONTENT_OPTIONS}


def check_dataset(cfg: dict, data_root: str | Path = "data") -> None:
    """``dataset.options`` must be options the loader takes; an already prepared ``data/{id}/`` must have
    been prepared from the same dataset, source and options — refetching it for another experiment
    would silently change the data every result under ``results/`` was built from."""
    from ..data.contract import canonical_options, check_options

    d = cfg["dataset"]
    try:
        check_options(d["name"], d.get("options") or {})
    except ValueError as exc:
        raise ConfigError(f"dataset.options: {exc}") from None
    meta_path = Path(data_root) / dataset_id(cfg) / "meta.json"
    if not meta_path.exists():
        return
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError:
        return  # a damaged meta.json: the jobs that read it say so
    if "long_tail" in meta:
        return
    want = {"dataset": d["name"], "source": d.get("source"),
            "options": _options_key(canonical_options(d["name"], d.get("options") or {}))}
    rec = _prepared_record(meta)
    if rec is not None:
        have = {"dataset": rec.get("dataset"), "source": rec.get("source"), "options": _options_key(rec.get("options") or {})}
        diff = [k for k in ("dataset", "source", "options") if have[k] != want[k]]
    else:  # prepared before the record existed: compare what the meta shows
        have = {"dataset": meta.get("name"), "options": {}}
        diff = ["dataset"] if meta.get("name") not in (None, d["name"]) else []
        full = canonical_options(d["name"], d.get("options") or {}, with_defaults=True)
        for k, v in _options_key(full).items():
            mk = {"n_train": "n_train_subset"}.get(k, k)
            if mk in meta:
                have["options"][k] = meta[mk]
                if meta[mk] != v and not (k == "n_train" and meta[mk] is None and v is None):
                    diff = sorted(set(diff) | {"options"})
    if diff:
        did = dataset_id(cfg)
        # show the options with their defaults, as the loader sees them
        want["options"] = _options_key(canonical_options(d["name"], d.get("options") or {}, with_defaults=True))
        if rec is not None and rec.get("dataset") == d["name"]:
            have["options"] = _options_key(canonical_options(d["name"], rec.get("options") or {}, with_defaults=True))
        raise ConfigError(
            f"dataset.id {did!r}: {meta_path.parent}/ was prepared with "
            + ", ".join(f"{k} {json.dumps(have.get(k), sort_keys=True)}" for k in diff)
            + "; this config asks for "
            + ", ".join(f"{k} {json.dumps(want[k], sort_keys=True)}" for k in diff)
            + f". Preparing it again would overwrite the data that existing results were built from. "
            f"Set another dataset.id for this config (e.g. id: {did}_{cfg.get('name', 'other')}), "
            f"or delete {meta_path.parent}/ to prepare it anew.")


EXTERNAL_FIELDS = {
    "input": {"train", "test", "meta", "labels", "surrogates"},
    "output": {"scores", "meta"},
    "wildcards": {"exp", "dataset", "noise", "arch", "scorer", "s"},
    "seed": None,
    "surrogate": None,
}


def check_external_shells(cfg: dict) -> None:
    """Every ``{...}`` in an external scorer's shell line must be one prunebench fills in; literal braces
    (awk, shell ``${VAR}``) are written doubled, ``{{`` and ``}}``, as in Snakemake's own shell lines."""
    fix = "write a literal brace doubled, {{ and }} (e.g. awk '{{print $1}}', ${{HOME}})"
    for name, entry in (cfg.get("external_scorers") or {}).items():
        line = entry.get("shell", "")
        key = f"external_scorers.{name}.shell"
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(line) if f is not None]
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc} in {line!r}; {fix}") from None
        for f in fields:
            root, _, rest = f.partition(".")
            root = root.split("[")[0]
            allowed = ", ".join("{" + (k if v is None else k + ".*") + "}" for k, v in EXTERNAL_FIELDS.items())
            if root not in EXTERNAL_FIELDS:
                raise ConfigError(f"{key}: {{{f}}} is not a placeholder prunebench fills in ({allowed}); {fix}")
            attrs = EXTERNAL_FIELDS[root]
            if attrs is not None and rest and rest.split(".")[0] not in attrs:
                raise ConfigError(f"{key}: {{{f}}}: {root} has no {rest.split('.')[0]!r} (it has "
                                  f"{', '.join(sorted(attrs))}); {fix}")


def check_plan(cfg: dict, n_train: int | None, data_root: str | Path = "data",
               cache_dir: str | Path | None = ".snakemake/prunebench") -> None:
    """The checks above, on a config the schema has validated (before :func:`prunebench.plan.check`)."""
    check_ratios(cfg, n_train, num_classes_hint(cfg, data_root), data_root)
    check_dataset(cfg, data_root)
    check_models(cfg, in_shape_hint(cfg, data_root), cache_dir)
    check_external_shells(cfg)

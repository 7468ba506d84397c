"""Config checks run when Snakemake plans (``snakemake -n``), before any job can delete a built file.

The schema (``workflow/schemas/config.schema.yaml``) and :func:`prunebench.plan.check` catch wrong types,
unknown methods and impossible scorer parameters. This module adds what a user's mistake would otherwise
turn into a failed job — and a failed job's outputs, built earlier, are deleted by Snakemake:

* :func:`validate_config` — schema errors as one short line each, naming the key (Snakemake's own
  ``validate`` prints the whole schema, ~380 lines, for an unknown key);
* :func:`coerce_cli_values` — ``--config 'ratios=[0.5]'`` gives strings; numbers where the schema wants them;
* :func:`check_models` — ``models.*`` keyword arguments against the model builder's signature;
* :func:`check_dataset` — ``dataset.options`` against the loader's options, and the prepared
  ``data/{id}/`` against what this config would prepare (two experiments must not overwrite each
  other's data);
* :func:`check_ratios` — ratios the two-decimal path key ``r{ratio:.2f}`` cannot hold exactly,
  duplicates, ratios that keep fewer samples than there are classes (:func:`class_count_problems`: the
  configured dataset and the long-tailed variants the sweeps train on);
* :func:`check_external_shells` — braces in an external scorer's shell line;
* :func:`refuse_workflow_dir` — Snakemake started inside ``workflow/`` would write ``workflow/results``.

Every check raises :class:`prunebench.plan.ConfigError` with a message that names the key and the fix.
Nothing here imports torch unless a timm model is given keyword arguments (then once per change:
the answer is cached under ``.snakemake/prunebench/``).
"""

from __future__ import annotations

import json
import math
import string
from pathlib import Path

from .plan import ConfigError, dataset_id, fmt_ratio, long_tail_id

#: classes of each dataset (to check that a ratio keeps at least one sample per class)
KNOWN_CLASSES = {"digits": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "tiny_imagenet": 200,
                 "imagenet": 1000}
#: digits: samples per class before the stratified train/test split (sklearn's load_digits)
DIGITS_CLASS_SIZES = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
#: training samples per class of the datasets with their default options (their sum: plan.KNOWN_N_TRAIN;
#: ImageNet's classes differ in size, 732 to 1300: known once prepared)
KNOWN_CLASS_COUNTS = {"fashion_mnist": (6000,) * 10, "cifar10": (5000,) * 10, "cifar100": (500,) * 100,
                      "tiny_imagenet": (500,) * 200}
#: the smallest class of ImageNet's training set (``n_per_class`` up to this keeps every class whole)
IMAGENET_MIN_CLASS = 732
#: input shapes (C, H, W) with the default options, for checking timm keyword arguments
KNOWN_SHAPES = {"digits": (1, 8, 8), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32),
                "tiny_imagenet": (3, 64, 64), "imagenet": (3, 64, 64)}
#: loader options that do not change the prepared arrays (how, not what)
NON_CONTENT_OPTIONS = frozenset({"workers", "cache", "in_memory_limit", "strict", "draft"})


# --- where Snakemake runs --------------------------------------------------------------------------

def refuse_workflow_dir(basedir: str | Path, cwd: str | Path | None = None) -> None:
    """Snakemake started in ``workflow/`` (it finds ``workflow/Snakefile`` there) would put ``data/`` and
    ``results/`` under ``workflow/`` and start a new tree from nothing."""
    base = Path(basedir).resolve()
    here = Path(cwd or Path.cwd()).resolve()
    if here == base or base in here.parents:
        raise ConfigError(f"snakemake runs in {here}, inside the workflow folder: data/ and results/ would be "
                          f"created under it and every job rerun from nothing. Run it from the repository root: "
                          f"cd {base.parent} && snakemake ...")


# --- schema ----------------------------------------------------------------------------------------

def load_schema(path: str | Path) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def _resolve(sub: dict, schema: dict) -> dict:
    while isinstance(sub, dict) and "$ref" in sub:
        node = schema
        for part in sub["$ref"].lstrip("#/").split("/"):
            node = node[part]
        sub = node
    return sub


def _wants_number(sub: dict, schema: dict) -> str | None:
    """'integer' or 'number' when ``sub`` accepts that type (and not a string)."""
    sub = _resolve(sub, schema)
    types = sub.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "string" in types:
        return None
    for t in ("integer", "number"):
        if t in types:
            return t
    for alt in sub.get("oneOf", []) + sub.get("anyOf", []) + sub.get("allOf", []):
        t = _wants_number(alt, schema)
        if t:
            return t
    return None


def _subschemas(sub: dict, schema: dict) -> list[dict]:
    sub = _resolve(sub, schema)
    out = [sub]
    for alt in sub.get("oneOf", []) + sub.get("anyOf", []) + sub.get("allOf", []):
        out += _subschemas(alt, schema)
    return out


def _coerce(value, sub: dict, schema: dict):
    if isinstance(value, str):
        kind = _wants_number(sub, schema)
        if kind:
            try:
                num = float(value)
            except ValueError:
                return value
            if kind == "integer" and num.is_integer() and "." not in value:
                return int(num)
            return num if kind == "number" else value
        return value
    subs = _subschemas(sub, schema)
    if isinstance(value, list):
        items = [s["items"] for s in subs if isinstance(s.get("items"), dict)]
        return [_coerce(v, items[0], schema) for v in value] if items else value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            cand = [s["properties"][k] for s in subs if k in (s.get("properties") or {})]
            cand += [s["additionalProperties"] for s in subs if isinstance(s.get("additionalProperties"), dict)]
            out[k] = _coerce(v, cand[0], schema) if cand else v
        return out
    return value


def coerce_cli_values(config: dict, schema: dict) -> None:
    """Numbers given as strings where the schema wants numbers → numbers, in place.

    Snakemake parses ``--config 'ratios=[0.5]'`` into ``['0.5']`` (a scalar ``seeds=2`` becomes an int,
    a list's items stay strings); the schema would then refuse ``'0.5' is not of type 'number'``."""
    for k, v in list(config.items()):
        sub = (schema.get("properties") or {}).get(k)
        if sub is not None:
            config[k] = _coerce(v, sub, schema)


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def schema_problems(config: dict, schema: dict) -> list[str]:
    """Every schema violation as one line naming the key; unknown keys list the known ones."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    errors = sorted(cls(schema).iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    out = []
    for e in errors:
        where = _where(e.absolute_path)
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            known = sorted(e.schema.get("properties") or {})
            for key in sorted(set(e.instance) - set(known)):
                prefix = f"{where}." if e.absolute_path else ""
                out.append(f"unknown key '{prefix}{key}'" + (f"; known keys here: {', '.join(known)}" if known else ""))
        elif e.validator == "oneOf":
            best = jsonschema.exceptions.best_match(e.context) if e.context else None
            out.append(f"{where}: {best.message if best else e.message}")
        else:
            out.append(f"{where}: {e.message}")
    return list(dict.fromkeys(out))


def validate_config(config: dict, schema_path: str | Path) -> None:
    """Coerce ``--config`` strings, then validate; a short :class:`ConfigError` listing the problems."""
    schema = load_schema(schema_path)
    coerce_cli_values(config, schema)
    problems = schema_problems(config, schema)
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ConfigError("invalid config (checked against workflow/schemas/config.schema.yaml):\n  "
                          + "\n  ".join(shown))


# --- ratios ----------------------------------------------------------------------------------------

def _ratio_problems(ratios, key: str) -> list[str]:
    out = []
    seen: dict[str, float] = {}
    for r in ratios:
        r = float(r)
        if abs(round(r, 2) - r) > 1e-9:
            near = sorted({math.floor(r * 100) / 100, math.ceil(r * 100) / 100} - {0.0, 1.0})
            out.append(f"{key}: {r:g} has more than two decimals, but result paths carry the ratio with two "
                       f"(r{fmt_ratio(r)}: {'nothing removed' if fmt_ratio(r) == '0.00' else 'another ratio'}); "
                       f"use {' or '.join(f'{v:.2f}' for v in near) or 'a ratio with two decimals'}")
        elif fmt_ratio(r) in seen:
            out.append(f"{key}: {fmt_ratio(r)} is listed twice; list each ratio once")
        seen[fmt_ratio(r)] = r
    return out


def check_ratios(cfg: dict, n_train: int | None = None, num_classes: int | None = None,
                 data_root: str | Path | None = None) -> None:
    """Ratios must be exact two-decimal numbers (the path key), listed once, and keep ≥ one sample per class
    of every dataset they select from (:func:`class_count_problems`; ``data_root`` None: the configured
    dataset only, from ``n_train`` and ``num_classes``)."""
    problems = _ratio_problems(cfg["ratios"], "ratios")
    for name, sw in (cfg.get("sweeps") or {}).items():
        if isinstance(sw.get("ratios"), list):
            problems += _ratio_problems(sw["ratios"], f"sweeps.{name}.ratios")
    if data_root is None:
        problems += _too_few_all([("ratios", r) for r in cfg["ratios"]], dataset_id(cfg), n_train, num_classes, None)
    else:
        problems += class_count_problems(cfg, n_train, data_root)
    if problems:
        raise ConfigError("\n".join(problems))


# --- class counts of the datasets a config selects from ----------------------------------------------

def _kept(n: int, r) -> int:
    """Samples a ratio keeps of ``n`` (``prunebench.select``: removed = floor(ratio·n + 0.5))."""
    return n - math.floor(float(r) * n + 0.5)


def _too_few(key: str, r, ds: str, n: int, num_classes: int, counts, via: str = "") -> str:
    """The message of a ratio that keeps fewer samples than ``ds`` has classes."""
    r = float(r)
    smallest = ""
    if counts is not None and len(counts):
        nc = int(min(counts))
        cs = [str(c) for c, v in enumerate(counts) if v == nc]
        if len(cs) == 1:
            named = f"class, {cs[0]}, has"
        else:
            shown = cs if len(cs) <= 5 else cs[:4] + [f"{len(cs) - 4} more"]
            named = f"classes, {', '.join(shown[:-1])} and {shown[-1]}, have"
        each = " each" if len(cs) > 1 else ""
        smallest = (f": its smallest {named} {nc} sample{'' if nc == 1 else 's'}{each}, and removing {r:g} of "
                    f"{'each' if each else 'it'} leaves {nc * (1 - r):.3g}")
    return (f"{key}: {r:g} keeps {_kept(n, r)} of the {n} training samples, fewer than the {num_classes} classes "
            f"of {ds} ({via + '; ' if via else ''}no subset can hold every class{smallest}); use a smaller ratio"
            + (" or a smaller imbalance" if via else ""))


def _counts_ok(counts, n=None, num_classes=None) -> list[int] | None:
    """``counts`` as a list of ints when they agree with ``n`` and ``num_classes`` (None: unknown)."""
    try:
        out = [int(v) for v in counts]
    except (TypeError, ValueError):
        return None
    if not out or min(out) < 0 or (n is not None and sum(out) != int(n)) or (
            num_classes is not None and len(out) != int(num_classes)):
        return None
    return out


def _read_meta(folder: Path) -> dict | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def prepared_class_counts(folder: str | Path) -> list[int] | None:
    """Training samples per class of a prepared dataset: its ``meta.json`` (``class_counts``, or
    ``long_tail.class_counts`` for a long-tailed variant), else the labels in its ``train.npz``;
    None when not prepared or unreadable (the jobs that read them say why)."""
    folder = Path(folder)
    meta = _read_meta(folder)
    if meta is None:
        return None
    n, C = meta.get("n_train"), meta.get("num_classes")
    for counts in (meta.get("class_counts"), (meta.get("long_tail") or {}).get("class_counts")):
        if counts is not None and _counts_ok(counts, n, C):
            return _counts_ok(counts, n, C)
    try:
        import numpy as np

        with np.load(folder / "train.npz", allow_pickle=False) as z:
            y = np.asarray(z["y"])
        if y.ndim != 1 or not len(y) or y.min() < 0 or (C is not None and y.max() >= int(C)):
            return None
        return _counts_ok(np.bincount(y, minlength=int(C or 0)).tolist(), n, C)
    except Exception:  # noqa: BLE001 - a damaged file is the jobs' to report
        return None


def known_class_counts(name: str, options: dict | None = None) -> list[int] | None:
    """Training samples per class of dataset ``name`` prepared with ``options``, without preparing it
    (the loaders' stratified splits and per-class subsets are deterministic in size); None when unknown."""
    opts = options or {}
    if name == "digits":
        tf = float(opts.get("test_fraction", 0.25))
        return [n - int(round(tf * n)) for n in DIGITS_CLASS_SIZES]  # data.contract.stratified_split
    if name == "fashion_mnist":
        counts = list(KNOWN_CLASS_COUNTS[name])
        n_train = opts.get("n_train")
        if n_train is not None and int(n_train) < sum(counts):
            tf = 1.0 - int(n_train) / sum(counts)  # data.sources.fashion_mnist: a stratified subset
            counts = [n - int(round(tf * n)) for n in counts]
        return counts
    if name in ("cifar10", "cifar100"):
        return list(KNOWN_CLASS_COUNTS[name])
    if name in ("tiny_imagenet", "imagenet"):
        if opts.get("strict") is False:
            return None  # a partial copy
        npc = opts.get("n_per_class")
        if name == "tiny_imagenet":
            return [min(int(npc), 500) if npc else 500 for _ in range(200)]
        return [int(npc)] * 1000 if npc and int(npc) <= IMAGENET_MIN_CLASS else None
    return None


def base_class_counts(cfg: dict, data_root: str | Path = "data") -> list[int] | None:
    """Training samples per class of the configured dataset: the prepared one's (``data/{id}/``), else
    what its name and options imply."""
    folder = Path(data_root) / dataset_id(cfg)
    if (folder / "meta.json").exists():
        return prepared_class_counts(folder)
    d = cfg["dataset"]
    return known_class_counts(d["name"], d.get("options"))


def long_tail_class_counts(cfg: dict, ratio: int, data_root: str | Path = "data") -> list[int] | None:
    """Training samples per class of the configured dataset's long-tailed variant ``{id}-lt{ratio}``:
    its prepared ``meta.json`` once it exists, else what the ``long_tail`` rule will keep of
    :func:`base_class_counts` (:func:`prunebench.data.contract.long_tail_counts`)."""
    folder = Path(data_root) / long_tail_id(dataset_id(cfg), ratio)
    if (folder / "meta.json").exists():
        return prepared_class_counts(folder)
    return _long_tail_of(base_class_counts(cfg, data_root), ratio)


def _long_tail_of(base: list[int] | None, ratio: int) -> list[int] | None:
    if base is None:
        return None
    from .data.contract import long_tail_counts

    try:
        return [int(v) for v in long_tail_counts(base, ratio)]
    except ValueError:
        return None  # one class: the long_tail job says so


def class_count_problems(cfg: dict, n_train: int | None = None, data_root: str | Path = "data") -> list[str]:
    """Ratios that keep fewer samples than there are classes, on the configured dataset (every listed ratio)
    and on each long-tailed variant a sweep trains on (the sweep's ratios): from the prepared ``meta.json``
    when it exists, else from the class counts known without preparing anything (:func:`known_class_counts`,
    :func:`prunebench.data.contract.long_tail_counts`)."""
    from functools import cache, partial

    base = dataset_id(cfg)
    base_counts = cache(lambda: base_class_counts(cfg, data_root))  # read only when needed
    n = n_train or (sum(base_counts()) if base_counts() else None)
    C = num_classes_hint(cfg, data_root) or (len(base_counts()) if base_counts() else None)
    problems = _too_few_all([("ratios", r) for r in cfg["ratios"]], base, n, C, base_counts)
    for name, sw in (cfg.get("sweeps") or {}).items():
        listed = isinstance(sw.get("ratios"), list)
        pairs = [(f"sweeps.{name}.ratios", r) for r in sw["ratios"]] if listed else [("ratios", r)
                                                                                     for r in cfg["ratios"]]
        for rho in sw.get("imbalance", [1]):
            if int(rho) == 1:
                continue
            folder = Path(data_root) / long_tail_id(base, rho)
            if (folder / "meta.json").exists():
                meta = _read_meta(folder) or {}
                n, C, counts = meta.get("n_train"), meta.get("num_classes"), partial(prepared_class_counts, folder)
            else:
                lt = _long_tail_of(base_counts(), rho)
                n, C, counts = (sum(lt), len(lt), lambda lt=lt: lt) if lt else (None, None, None)
            problems += _too_few_all(pairs, folder.name, n, C, counts, f"sweeps.{name}.imbalance: {int(rho)}")
    return list(dict.fromkeys(problems))


def _too_few_all(pairs, ds: str, n, num_classes, counts, via: str = "") -> list[str]:
    """:func:`_too_few` for each ``(key, ratio)`` that keeps fewer than ``num_classes`` of ``n`` samples;
    ``counts()`` (read only then) names the smallest class when it describes the same data."""
    try:
        n, num_classes = int(n), int(num_classes)
    except (TypeError, ValueError):
        return []  # not known before the data are prepared
    few = [(k, r) for k, r in pairs if n and num_classes and _kept(n, r) < num_classes]
    if not few:
        return []
    cl = counts() if counts else None
    if cl is not None and (sum(cl) != n or len(cl) != num_classes):
        cl = None  # not the data n and num_classes describe: name no class
    return [_too_few(k, r, ds, n, num_classes, cl, via) for k, r in few]


# --- models ----------------------------------------------------------------------------------------

#: arguments prunebench sets itself when it builds a model
RESERVED_MODEL_ARGS = frozenset({"in_shape", "num_classes", "in_chans", "img_size", "pretrained"})


def check_models(cfg: dict, in_shape: tuple[int, int, int] | None = None, cache_dir: str | Path | None = None) -> None:
    """``models.NAME`` must be a known model and its keyword arguments ones its builder takes."""
    from .models import BUILTIN, BUILTIN_KWARGS, is_known_model

    for name, kw in (cfg.get("models") or {}).items():
        kw = kw or {}
        if not is_known_model(name):
            raise ConfigError(f"models.{name}: unknown model {name!r}; known: {', '.join(BUILTIN)}, timm-<name>")
        reserved = sorted(set(kw) & RESERVED_MODEL_ARGS)
        if reserved:
            raise ConfigError(f"models.{name}: {reserved} are set by prunebench from the data; remove them")
        if name in BUILTIN_KWARGS:
            unknown = sorted(set(kw) - set(BUILTIN_KWARGS[name]))
            if unknown:
                raise ConfigError(f"models.{name}: unknown keyword argument(s) {unknown} for {name}; it takes "
                                  f"{', '.join(BUILTIN_KWARGS[name]) or 'none'}")
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
            known = json.loads(cache.read_text())
        except ValueError:
            known = {}
    if key in known:
        return known[key]
    import timm
    import torch

    from .models.zoo import build_timm

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
        from . import io

        io.write_json(cache, {**known, key: problem})
    return problem


# --- dataset ---------------------------------------------------------------------------------------

def _prepared_record(meta: dict) -> dict | None:
    return meta.get("prepared_with")


def _options_key(opts: dict) -> dict:
    return {k: v for k, v in sorted(opts.items()) if k not in NON_CONTENT_OPTIONS}


def check_dataset(cfg: dict, data_root: str | Path = "data") -> None:
    """``dataset.options`` must be options the loader takes; an already prepared ``data/{id}/`` must have
    been prepared from the same dataset, source and options — refetching it for another experiment
    would silently change the data every result under ``results/`` was built from."""
    from .data.contract import canonical_options, check_options

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


def num_classes_hint(cfg: dict, data_root: str | Path = "data") -> int | None:
    meta = Path(data_root) / dataset_id(cfg) / "meta.json"
    if meta.exists():
        try:
            return int(json.loads(meta.read_text())["num_classes"])
        except (ValueError, KeyError):
            return None
    return KNOWN_CLASSES.get(cfg["dataset"]["name"])


def in_shape_hint(cfg: dict, data_root: str | Path = "data") -> tuple[int, int, int]:
    meta = Path(data_root) / dataset_id(cfg) / "meta.json"
    if meta.exists():
        try:
            return tuple(int(v) for v in json.loads(meta.read_text())["shape"])  # type: ignore[return-value]
        except (ValueError, KeyError, TypeError):
            pass
    name = cfg["dataset"]["name"]
    size = (cfg["dataset"].get("options") or {}).get("size")
    if size and name in ("imagenet", "tiny_imagenet"):
        return (3, int(size), int(size))
    return KNOWN_SHAPES.get(name, (3, 32, 32))


# --- external scorers ------------------------------------------------------------------------------

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


# --- all of them -----------------------------------------------------------------------------------

def check_plan(cfg: dict, n_train: int | None, data_root: str | Path = "data",
               cache_dir: str | Path | None = ".snakemake/prunebench") -> None:
    """The checks above, on a config the schema has validated (before :func:`prunebench.plan.check`)."""
    check_ratios(cfg, n_train, num_classes_hint(cfg, data_root), data_root)
    check_dataset(cfg, data_root)
    check_models(cfg, in_shape_hint(cfg, data_root), cache_dir)
    check_external_shells(cfg)

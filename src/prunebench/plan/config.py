"""The effective config: the embedded default with a config file's changes merged in (by entry under the
named maps, whole otherwise); :func:`prunebench.plan.configure` validates and checks it once."""

from __future__ import annotations

import copy
from pathlib import Path


class ConfigError(ValueError):
    pass


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

    import yaml

    root = Path(__file__).resolve().parents[3]
    cfg = yaml.safe_load(Path(default or root / DEFAULT_CONFIG).read_text())
    for f in files:
        cfg = merge_config(cfg, yaml.safe_load(Path(f).read_text()) or {})
    return cfg


def only_sweeps(sweeps: dict, names) -> dict:
    """The sweeps named in ``only_sweeps`` (in config order), for a partial run of a study."""
    unknown = sorted(set(names) - set(sweeps))
    if unknown:
        raise ConfigError(f"only_sweeps: {unknown} not among the sweeps {sorted(sweeps)}")
    return {k: v for k, v in sweeps.items() if k in set(names)}


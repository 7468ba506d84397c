"""The config schema (``workflow/schemas/config.schema.yaml``) as one short line per problem, ``--config``
strings turned into the numbers the schema asks for, and the schema's defaults filled in: the only place
the config meets its schema (Snakemake's own ``validate`` prints the whole schema for an unknown key)."""

from __future__ import annotations

from pathlib import Path

from .config import ConfigError


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
    """Coerce ``--config`` strings, validate (a short :class:`ConfigError` listing the problems), then fill
    in the schema's defaults, as Snakemake's ``validate`` does (the same jsonschema extension): the one
    validation of the config."""
    schema = load_schema(schema_path)
    coerce_cli_values(config, schema)
    problems = schema_problems(config, schema)
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ConfigError("invalid config (checked against workflow/schemas/config.schema.yaml):\n  "
                          + "\n  ".join(shown))
    set_defaults(config, schema)


def set_defaults(config: dict, schema: dict) -> None:
    """Every ``default`` of the schema set where ``config`` lacks the key (jsonschema's FAQ recipe, which
    Snakemake's ``validate(..., set_default=True)`` uses)."""
    from jsonschema import Draft202012Validator, validators

    props = Draft202012Validator.VALIDATORS["properties"]

    def properties(validator, properties, instance, sub):
        for key, subschema in properties.items():
            if "default" in subschema:
                instance.setdefault(key, subschema["default"])
        yield from props(validator, properties, instance, sub)

    validators.extend(Draft202012Validator, {"properties": properties})(schema).validate(config)

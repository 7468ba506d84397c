"""The scorers of a config as :class:`ScorerSpec`: registered methods with their parameters, external
programs, and the uniform-protocol copies a sweep asks for."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .config import ConfigError


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


#: the sweep key ``protocols``: the method's authors' protocol, and the uniform one (global top-k in the
#: method's direction, scores read on the training pass with the registered defaults)
PROTOCOLS = ("release", "uniform")


UNIFORM_STRATEGY = "keep"


def scorer_specs(cfg: dict) -> dict[str, ScorerSpec]:
    from ..scorers import get_scorer

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
    from ..scorers import get_scorer

    return {**spec.params, **get_scorer(spec.method).protocol.uniform}


def uniform_name(specs: dict[str, ScorerSpec], name: str) -> str:
    """The scorer that reads ``name``'s method under the uniform protocol: ``name`` itself when its
    parameters are already the uniform ones (only the selection differs), else ``{name}-uniform``."""
    spec = specs[name]
    if spec.kind != "score" or _uniform_params(spec) == spec.params:
        return name
    return f"{name}-uniform"


def _uniform_spec(spec: ScorerSpec) -> ScorerSpec:

    return replace(spec, name=f"{spec.name}-uniform", params=_uniform_params(spec), strategy=UNIFORM_STRATEGY,
                   strategy_params={}, ablation=False, uniform_of=spec.name)


def reference_method(specs: dict[str, ScorerSpec], name: str = "random") -> str:
    """The tables' method name of the reference (random) under its release protocol: ``random+classbal``
    (DeepCore's uniform draws within each class), or ``random`` when configured with the global rule."""
    from ..stats import method_key

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
        from ..scorers import list_scorers

        takes = [s.name for s in list_scorers() if "partitions" in s.defaults]
        raise ConfigError(f"scorers.{name}: surrogate {variant!r} is partitioned ({v['partitions']} parts), but "
                          f"{method} scores from one surrogate of the whole training set (only "
                          f"{', '.join(takes)} take{'s' if len(takes) == 1 else ''} partitions)")
    return {"partitions": int(v["partitions"]), "partition_mode": v.get("partition_mode", "contiguous"),
            "partition_seed": int(v.get("partition_seed", 0))}


def sweep_scorers(sw: dict, specs: dict[str, ScorerSpec]) -> list[str]:
    """A sweep's scorers: its list, or every configured scorer that is not an ablation variant (nor a
    uniform-protocol copy: the sweep's ``protocols`` add those)."""
    if sw.get("scorers", "all") == "all":
        return [n for n, s in specs.items() if not s.ablation and not s.uniform_of]
    return list(sw["scorers"])

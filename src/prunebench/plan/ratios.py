"""Ratios a config may ask for: ratios the two-decimal path key ``r{ratio:.2f}`` cannot hold exactly,
ratios listed twice, and ratios that keep fewer samples than there are classes, on the configured dataset
and on the long-tailed variants the sweeps train on."""

from __future__ import annotations

import math
from pathlib import Path

from .config import ConfigError
from .datasets import (
    base_class_counts,
    dataset_id,
    long_tail_id,
    long_tail_of_counts,
    num_classes_hint,
    prepared_class_counts,
    read_prepared_meta,
)
from .jobs import fmt_ratio


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
                meta = read_prepared_meta(folder) or {}
                n, C, counts = meta.get("n_train"), meta.get("num_classes"), partial(prepared_class_counts, folder)
            else:
                lt = long_tail_of_counts(base_counts(), rho)
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

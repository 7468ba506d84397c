"""The path contract as code: build and parse contract paths.

    results/{exp}/{dataset}/{noise}/scores/{arch}/{scorer}/seed{s}.csv
    results/{exp}/{dataset}/{noise}/subsets/{arch}/{scorer}/{strategy}/r{ratio}/seed{s}.npy
    results/{exp}/{dataset}/{noise}/retrain/{arch}/{scorer}/{strategy}/r{ratio}/{target}/seed{s}.json
"""

from __future__ import annotations

import re
from pathlib import Path

_P = r"(?:.*/)?results/(?P<exp>[^/]+)/(?P<dataset>[^/]+)/(?P<noise>[^/]+)/"
PATTERNS = {
    "labels": re.compile(_P + r"labels\.npz$"),
    "scores": re.compile(_P + r"scores/(?P<arch>[^/]+)/(?P<scorer>[^/]+)/seed(?P<seed>\d+)\.csv$"),
    "subset": re.compile(
        _P + r"subsets/(?P<arch>[^/]+)/(?P<scorer>[^/]+)/(?P<strategy>[^/]+)/r(?P<ratio>\d\.\d\d)/seed(?P<seed>\d+)\.npy$"
    ),
    "retrain": re.compile(
        _P + r"retrain/(?P<arch>[^/]+)/(?P<scorer>[^/]+)/(?P<strategy>[^/]+)/r(?P<ratio>\d\.\d\d)/(?P<target>[^/]+)/"
        r"seed(?P<seed>\d+)\.json$"
    ),
}


def parse(path: str | Path, kind: str) -> dict:
    """Keys of a contract path (``seed`` as int, ``ratio`` as float); ValueError if it does not match."""
    p = str(path).replace("\\", "/")
    m = PATTERNS[kind].match(p)
    if not m:
        raise ValueError(f"{path}: not a {kind} contract path")
    d = m.groupdict()
    if "seed" in d:
        d["seed"] = int(d["seed"])
    if "ratio" in d:
        d["ratio"] = float(d["ratio"])
    return d


#: every contract path as one template (its keys: Snakemake wildcards, or filled in). ``scores`` and
#: ``subset`` take a suffix (``.csv``, ``.meta.json``, ``.timing.json``; ``.npy``, ``.meta.json``);
#: ``retrain``'s ``{dir}`` is ``retrain`` under the run's budget, ``budget/{budget}`` under another one.
TEMPLATES = {
    "labels": "results/{exp}/{dataset}/{noise}/labels.npz",
    "scores": "results/{exp}/{dataset}/{noise}/scores/{arch}/{scorer}/seed{s}",
    "subset": "results/{exp}/{dataset}/{noise}/subsets/{arch}/{scorer}/{strategy}/r{ratio}/seed{s}",
    "retrain": "results/{exp}/{dataset}/{noise}/{dir}/{arch}/{scorer}/{strategy}/r{ratio}/{target}/seed{s}.json",
}
_DEFAULTS = {"retrain": {"dir": "retrain"}}
_KEY = re.compile(r"\{(\w+)\}")


def rule_path(kind: str, suffix: str = "", expand: tuple[str, ...] = (), **fixed) -> str:
    """The template of ``kind`` (+ ``suffix``) for a Snakemake rule: keys given in ``fixed`` filled in
    verbatim, the others left as wildcards. With ``expand`` (keys that ``expand()`` fills), those stay
    ``{key}`` and every other wildcard is escaped as ``{{key}}``, as ``expand()`` wants."""
    fixed = {**_DEFAULTS.get(kind, {}), **fixed}

    def key(m: re.Match) -> str:
        k = m.group(1)
        if k in fixed:
            return str(fixed[k])
        return f"{{{k}}}" if (k in expand or not expand) else f"{{{{{k}}}}}"

    return _KEY.sub(key, TEMPLATES[kind] + suffix)


def labels_path(exp: str, dataset: str, noise: str) -> str:
    return rule_path("labels", exp=exp, dataset=dataset, noise=noise)


def scores_path(exp, dataset, noise, arch, scorer, seed) -> str:
    return rule_path("scores", ".csv", exp=exp, dataset=dataset, noise=noise, arch=arch, scorer=scorer, s=seed)


def subset_path(exp, dataset, noise, arch, scorer, strategy, ratio, seed) -> str:
    return rule_path("subset", ".npy", exp=exp, dataset=dataset, noise=noise, arch=arch, scorer=scorer,
                     strategy=strategy, ratio=f"{float(ratio):.2f}", s=seed)

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


def labels_path(exp: str, dataset: str, noise: str) -> str:
    return f"results/{exp}/{dataset}/{noise}/labels.npz"


def scores_path(exp, dataset, noise, arch, scorer, seed) -> str:
    return f"results/{exp}/{dataset}/{noise}/scores/{arch}/{scorer}/seed{seed}.csv"


def subset_path(exp, dataset, noise, arch, scorer, strategy, ratio, seed) -> str:
    return f"results/{exp}/{dataset}/{noise}/subsets/{arch}/{scorer}/{strategy}/r{float(ratio):.2f}/seed{seed}.npy"

"""Every path of a run as code: the workflow's rules and :class:`prunebench.plan.Files` build their
paths here (:data:`TEMPLATES`: contract files, tables, figures; :data:`JOBS`: each job's log and
benchmark file), and readers parse them back with the same templates (:func:`parse`, :func:`parse_job`).
The contract paths:

    results/{exp}/{dataset}/{noise}/scores/{arch}/{scorer}/seed{s}.csv
    results/{exp}/{dataset}/{noise}/subsets/{arch}/{scorer}/{strategy}/r{ratio}/seed{s}.npy
    results/{exp}/{dataset}/{noise}/retrain/{arch}/{scorer}/{strategy}/r{ratio}/{target}/seed{s}.json
"""

from __future__ import annotations

import functools
import re
from pathlib import Path


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
    "labels_meta": "results/{exp}/{dataset}/{noise}/labels.meta.json",  # its record (sha256, noise, seed)
    "scores": "results/{exp}/{dataset}/{noise}/scores/{arch}/{scorer}/seed{s}",
    "subset": "results/{exp}/{dataset}/{noise}/subsets/{arch}/{scorer}/{strategy}/r{ratio}/seed{s}",
    "retrain": "results/{exp}/{dataset}/{noise}/{dir}/{arch}/{scorer}/{strategy}/r{ratio}/{target}/seed{s}.json",
}
TEMPLATES.update({
    "convergence": "results/{exp}/{dataset}/{noise}/convergence/{arch}/x2/seed{s}.json",  # the 2x-epoch runs
    "data": "data/{dataset}",  # folder of train.npz, test.npz, meta.json
    "surrogate": "results/{exp}/{dataset}/{noise}/surrogate/{arch}/seed{s}",  # folder of surrogate.json, model.pt, …
    "surrogate_variant": "results/{exp}/{dataset}/{noise}/surrogate/{arch}/{variant}/seed{s}",
    "epsilon": "results/{exp}/{dataset}/{noise}/epsilon/{arch}/{scorer}",
    "table": "results/{exp}/tables/{name}",
    "figure": "results/{exp}/figures/{name}",
})
_DEFAULTS = {"retrain": {"dir": "retrain"}}
_KEY = re.compile(r"\{(\w+)\}")
#: what each key of a contract path matches when a path is parsed back (``s`` is read as ``seed``)
_KEY_PATTERNS = {"ratio": r"\d\.\d\d", "s": r"\d+"}


def _pattern(template: str, **fixed) -> re.Pattern:
    """The regex that parses ``template`` (keys in ``fixed`` matched literally) back into its keys; a key
    that stands twice must match the same text."""
    seen: set[str] = set()

    def key(m: re.Match) -> str:
        k = m.group(1)
        name = "seed" if k == "s" else k
        if k in fixed:
            return re.escape(str(fixed[k]))
        if name in seen:
            return f"(?P={name})"
        seen.add(name)
        return f"(?P<{name}>{_KEY_PATTERNS.get(k, '[^/]+')})"

    parts = re.split(r"(\{\w+\})", template)
    body = "".join(_KEY.sub(key, x) if _KEY.fullmatch(x) else re.escape(x) for x in parts)
    return re.compile(r"(?:.*/)?" + body + "$")


def keys(kind: str) -> tuple[str, ...]:
    """The keys of a contract path of ``kind`` in path order (``s`` named ``seed``, ``dir`` left out):
    the columns a table of those files is keyed by."""
    return tuple("seed" if k == "s" else k for k in _KEY.findall(TEMPLATES[kind]) if k != "dir")


#: the keys of one retraining setting (a result path without exp, ratio and seed): one retrain job
SETTING_KEYS = tuple(k for k in keys("retrain") if k not in ("exp", "ratio", "seed"))

#: the contract paths :func:`parse` reads back, generated from :data:`TEMPLATES`
PATTERNS = {"labels": _pattern(TEMPLATES["labels"]), "scores": _pattern(TEMPLATES["scores"] + ".csv"),
            "subset": _pattern(TEMPLATES["subset"] + ".npy"), "retrain": _pattern(TEMPLATES["retrain"], dir="retrain")}

#: each job's log ``results/{exp}/logs/{job}.log`` and benchmark ``results/{exp}/benchmarks/{job}.tsv``
#: (``data/logs/…``, ``data/benchmarks/…`` for the data jobs, which serve every run). studies/cost.py
#: parses the benchmark files with the same templates (:func:`parse_job`).
JOBS = {
    "fetch": "fetch_{dataset}",
    "long_tail": "long_tail_{dataset}",
    "noise": "noise/{dataset}/{noise}",
    "surrogate": "surrogate/{dataset}/{noise}/{arch}/seed{s}",
    "surrogate_variant": "surrogate/{dataset}/{noise}/{arch}/{variant}/seed{s}",
    "scores": "scores/{dataset}/{noise}/{arch}/{scorer}",
    "scores_seed": "scores/{dataset}/{noise}/{arch}/{scorer}/seed{s}",
    "select": "select/{dataset}/{noise}/{arch}/{scorer}/{strategy}",
    "select_full": "select/{dataset}/{noise}/{arch}/full/seed{s}",
    "retrain": "retrain/{dataset}/{noise}/{arch}/{scorer}/{strategy}/{target}",
    "retrain_budget": "retrain/{dataset}/{noise}/{arch}/budget/{group}/{target}",
    "retrain_full": "retrain/{dataset}/{noise}/{arch}/full/all/{arch}",
    "retrain_x2": "retrain/{dataset}/{noise}/{arch}/full/x2",
    "study": "studies/{study}",
    "step": "{step}",
}
_DATA_JOBS = ("fetch", "long_tail")
#: the jobs whose benchmark files the cost table reads, by stage; the first template that matches wins
COST_JOBS = {"surrogate": ("surrogate", "surrogate_variant"), "score": ("scores", "scores_seed"),
             "select": ("select",), "retrain": ("retrain",)}


def rule_path(kind: str, suffix: str = "", expand: tuple[str, ...] = (), **fixed) -> str:
    """The template of ``kind`` + ``suffix`` (an extension such as ``.csv``, or a file name inside the
    template's folder such as ``train.npz``) for a Snakemake rule: keys given in ``fixed`` filled in
    verbatim, the others left as wildcards. With ``expand`` (keys that ``expand()`` fills), those stay
    ``{key}`` and every other wildcard is escaped as ``{{key}}``, as ``expand()`` wants."""
    if suffix and not suffix.startswith("."):
        suffix = "/" + suffix  # a file inside the folder of the template (data, surrogate): "train.npz"
    return _fill(TEMPLATES[kind] + suffix, {**_DEFAULTS.get(kind, {}), **fixed}, expand)


def _fill(template: str, fixed: dict, expand: tuple[str, ...] = ()) -> str:
    """``template`` with the keys of ``fixed`` filled in and the others left as ``{key}`` (with ``expand``:
    the keys not in it escaped as ``{{key}}``)."""
    def key(m: re.Match) -> str:
        k = m.group(1)
        if k in fixed:
            return str(fixed[k])
        return f"{{{k}}}" if (k in expand or not expand) else f"{{{{{k}}}}}"

    return _KEY.sub(key, template)


def job_file(job: str, what: str, **fixed) -> str:
    """The log (``what="log"``) or benchmark (``what="benchmark"``) file of ``job`` (:data:`JOBS`), the
    keys in ``fixed`` filled in, the others left as Snakemake wildcards."""
    if what not in ("log", "benchmark"):
        raise ValueError(f"what must be 'log' or 'benchmark', got {what!r}")
    folder, ext = ("logs", ".log") if what == "log" else ("benchmarks", ".tsv")
    root = "data" if job in _DATA_JOBS else "results/{exp}"
    return _fill(f"{root}/{folder}/{JOBS[job]}{ext}", fixed)


def log_path(job: str, **fixed) -> str:
    return job_file(job, "log", **fixed)


def benchmark_path(job: str, **fixed) -> str:
    return job_file(job, "benchmark", **fixed)


@functools.cache
def _job_regex(job: str) -> re.Pattern:
    return _pattern(f"benchmarks/{JOBS[job]}.tsv")


def parse_job(path: str | Path) -> dict | None:
    """``{"stage": …, keys…}`` of a benchmark file the cost table reads (:data:`COST_JOBS`; ``seed`` as
    int), or None for any other file."""
    p = str(path).replace("\\", "/")
    for stage, jobs in COST_JOBS.items():
        for job in jobs:
            m = _job_regex(job).match(p)
            if m:
                d = m.groupdict()
                if "seed" in d:
                    d["seed"] = int(d["seed"])
                return {"stage": stage, **d}
    return None


_VARIANT_RUN = re.compile(r"(?P<run>(?:.*/)?surrogate/[^/]+/(?!seed\d+/)[^/]+/seed\d+)/.+$")
_CHECKPOINT = re.compile(r"(?P<run>.+)/checkpoints/[^/]+\.pt$")


def rebuild_target(path: str | Path) -> str:
    """The output of a rule whose job writes ``path`` (what ``snakemake --forcerun`` takes): the file
    itself, or, for a file inside a surrogate run that the rule does not declare one by one, the run's
    ``surrogate.json`` (a checkpoint of a plain run) or the run folder (a surrogate variant's run, one
    directory output, partitions included)."""
    p = str(path).replace("\\", "/")
    m = _VARIANT_RUN.match(p)
    if m:
        return m.group("run")
    m = _CHECKPOINT.match(p)
    if m:
        return m.group("run") + "/surrogate.json"
    return p


def labels_path(exp: str, dataset: str, noise: str) -> str:
    return rule_path("labels", exp=exp, dataset=dataset, noise=noise)


def scores_path(exp, dataset, noise, arch, scorer, seed) -> str:
    return rule_path("scores", ".csv", exp=exp, dataset=dataset, noise=noise, arch=arch, scorer=scorer, s=seed)


def subset_path(exp, dataset, noise, arch, scorer, strategy, ratio, seed) -> str:
    return rule_path("subset", ".npy", exp=exp, dataset=dataset, noise=noise, arch=arch, scorer=scorer,
                     strategy=strategy, ratio=f"{float(ratio):.2f}", s=seed)

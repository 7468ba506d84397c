"""What the plan knows of the datasets before any job runs: the dataset ids of a config (and its
long-tailed variants), and their sizes, classes and shapes, from the prepared ``meta.json`` when it exists,
else from the dataset registry's facts (:func:`prunebench.data.dataset_facts`)."""

from __future__ import annotations

import json
from pathlib import Path

from ..data.contract import dataset_facts


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


#: what :func:`prepared_value` returns when the dataset is not prepared yet
NOT_PREPARED = object()


def prepared_value(cfg: dict, data_root, key: str, cast):
    """``cast(meta[key])`` of the configured dataset's prepared ``meta.json``; None when it exists but cannot
    be read (the jobs that read it say why); :data:`NOT_PREPARED` when there is none yet."""
    folder = Path(data_root) / dataset_id(cfg)
    if not (folder / "meta.json").exists():
        return NOT_PREPARED
    try:
        return cast((read_prepared_meta(folder) or {})[key])
    except (KeyError, TypeError, ValueError):
        return None


def n_train_hint(cfg: dict, data_root: str = "data") -> int | None:
    """The training-set size without preparing the data: the prepared ``meta.json`` when it exists,
    else what the dataset's registered facts say of its options; None when that is not known (then T is
    checked when the surrogate runs)."""
    n = prepared_value(cfg, data_root, "n_train", int)
    if n is not NOT_PREPARED:
        return n
    counts = known_class_counts(cfg["dataset"]["name"], cfg["dataset"].get("options"))
    if counts is not None:
        return sum(counts)
    facts = dataset_facts(cfg["dataset"]["name"])
    sized = set(cfg["dataset"].get("options") or {}) & {"n_train", "n_per_class", "strict", "test_fraction"}
    return facts.n_train if facts is not None and not sized else None


def num_classes_hint(cfg: dict, data_root: str | Path = "data") -> int | None:
    c = prepared_value(cfg, data_root, "num_classes", int)
    if c is not NOT_PREPARED:
        return c
    facts = dataset_facts(cfg["dataset"]["name"])
    return facts.num_classes if facts is not None else None


def in_shape_hint(cfg: dict, data_root: str | Path = "data") -> tuple[int, int, int]:
    shape = prepared_value(cfg, data_root, "shape", lambda v: tuple(int(x) for x in v))
    if shape not in (NOT_PREPARED, None):
        return shape
    facts = dataset_facts(cfg["dataset"]["name"])
    return facts.shape_for(cfg["dataset"].get("options") or {}) if facts is not None else (3, 32, 32)


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


def read_prepared_meta(folder: Path) -> dict | None:
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
    meta = read_prepared_meta(folder)
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
    (the registered :class:`prunebench.data.contract.DatasetFacts`); None when unknown."""
    facts = dataset_facts(name)
    return facts.class_counts(options or {}) if facts is not None else None


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
    return long_tail_of_counts(base_class_counts(cfg, data_root), ratio)


def long_tail_of_counts(base: list[int] | None, ratio: int) -> list[int] | None:
    if base is None:
        return None
    from ..data.contract import long_tail_counts

    try:
        return [int(v) for v in long_tail_counts(base, ratio)]
    except ValueError:
        return None  # one class: the long_tail job says so

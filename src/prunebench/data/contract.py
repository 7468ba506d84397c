"""Preparing and loading datasets under the data contract."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import io
from .base import DATASETS, FACTS, DatasetFacts


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta: dict

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.x_train.shape[1:])  # type: ignore[return-value]


def dataset_facts(name: str) -> DatasetFacts | None:
    """The registered facts of dataset ``name`` (None for an unknown name: the schema refuses those)."""
    _known()
    return FACTS.get(name)


def _known() -> None:
    from . import folders, sources  # noqa: F401  (register the datasets)


def prepare(name: str, out_dir: str | os.PathLike, source: str | None = None, **kw) -> dict:
    """Build dataset ``name`` and write ``train.npz``, ``test.npz`` and ``meta.json``.

    Unknown options are refused (:func:`check_options`); ``meta.json`` records what the data were
    prepared from (``prepared_with``: dataset, source, options) so that a config asking for other
    options under the same ``dataset.id`` is refused at planning instead of overwriting them."""
    check_options(name, kw)
    xtr, ytr, xte, yte, info = DATASETS.get(name)(source=source, **kw)
    info = {**info, "prepared_with": {"dataset": name, "source": source, "options": canonical_options(name, kw)}}
    return _write_prepared(name, out_dir, xtr, ytr, xte, yte, info)


def loader_options(name: str) -> dict:
    """``{option: default}`` of dataset ``name``'s loader (its keyword parameters but ``source``)."""
    import inspect

    _known()
    fn = DATASETS.get(name)
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.name != "source" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def check_options(name: str, options: dict) -> None:
    """ValueError naming the options dataset ``name``'s loader does not take (a typo would be ignored)."""
    known = loader_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"dataset {name}: unknown option(s) {unknown}; {name} takes "
                         f"{', '.join(sorted(known)) or 'no options'}")


def canonical_options(name: str, options: dict, with_defaults: bool = False) -> dict:
    """The options sorted, without those equal to the loader's default (``{}`` = all defaults), or with
    every default filled in: two spellings of the same data compare (and hash) equal."""
    known = loader_options(name)
    out = {k: options[k] for k in sorted(options) if not (k in known and options[k] == known[k])}
    if with_defaults:
        out = {k: options.get(k, known[k]) for k in sorted(set(known) | set(options))}
    return out


def _write_prepared(name: str, out_dir, xtr, ytr, xte, yte, info: dict, num_classes: int | None = None) -> dict:
    for part, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        if x.ndim != 4 or len(x) != len(y):
            raise ValueError(f"{name} {part}: expected x (N,C,H,W) and y (N,), got {x.shape} and {y.shape}")
    ytr = ytr.astype(np.int64)
    yte = yte.astype(np.int64)
    num_classes = num_classes or int(max(ytr.max(), yte.max()) + 1)
    xf = xtr.astype(np.float32) / (255.0 if xtr.dtype == np.uint8 else 1.0)
    meta = {
        "name": name,
        "num_classes": num_classes,
        "shape": list(xtr.shape[1:]),
        "n_train": len(ytr),
        "n_test": len(yte),
        "x_dtype": str(xtr.dtype),
        "mean": [float(v) for v in xf.mean(axis=(0, 2, 3))],
        "std": [float(v) for v in xf.std(axis=(0, 2, 3))],
        "sha256": {
            "x_train": io.sha256_array(xtr),
            "y_train": io.sha256_array(ytr),
            "x_test": io.sha256_array(xte),
            "y_test": io.sha256_array(yte),
        },
        **info,
    }
    out = Path(out_dir)
    # the manifest records each file's sha256: readers (io.load_npz) check it before use
    meta["files"] = {"train.npz": io.save_npz(out / "train.npz", x=xtr, y=ytr),
                     "test.npz": io.save_npz(out / "test.npz", x=xte, y=yte)}
    io.write_json(out / "meta.json", meta)
    return meta


def long_tail_counts(counts, ratio: float) -> np.ndarray:
    """Per-class sizes of an exponentially long-tailed training set (Cui et al. 2019; Cao et al. 2019,
    the CIFAR-LT profile): class c keeps ``floor(n_max · ratio^(−c/(C−1)))`` samples, n_max = the
    largest class, so class 0 is the head, class C−1 has ``n_max / ratio`` and the imbalance ratio
    (largest / smallest) is ``ratio``. A class never keeps more than it has."""
    counts = np.asarray(counts, dtype=np.int64)
    if not ratio >= 1:
        raise ValueError(f"long-tail imbalance ratio must be >= 1 (largest / smallest class), got {ratio}")
    C = len(counts)
    if C < 2:
        raise ValueError("a long-tailed subset needs at least 2 classes")
    want = np.floor(counts.max() * float(ratio) ** (-np.arange(C) / (C - 1)) + 1e-9).astype(np.int64)
    out = np.minimum(counts, np.maximum(want, 1))
    return out


def long_tail_indices(y: np.ndarray, num_classes: int, ratio: float, seed: int) -> np.ndarray:
    """Sorted training indices of the long-tailed subset (:func:`long_tail_counts`); which samples of
    a class are kept is drawn with ``default_rng([seed, c])``."""
    y = np.asarray(y)
    counts = np.bincount(y, minlength=num_classes)
    keep_n = long_tail_counts(counts, ratio)
    keep = []
    for c in range(num_classes):
        idx = np.flatnonzero(y == c)
        keep.append(np.random.default_rng([int(seed), c]).permutation(idx)[: keep_n[c]])
    return np.sort(np.concatenate(keep)).astype(np.int64)


def derive_long_tail(base_dir: str | os.PathLike, out_dir: str | os.PathLike, ratio: float, seed: int = 0) -> dict:
    """A prepared dataset → its long-tailed variant (training set only; the test set stays balanced,
    as in the long-tail literature). Writes the same contract (train.npz, test.npz, meta.json); the
    meta records the base dataset's hash, the ratio, the seed and the per-class counts."""
    base = load_dataset(base_dir)
    keep = long_tail_indices(base.y_train, base.num_classes, ratio, seed)
    info = {k: v for k, v in base.meta.items() if k not in {"name", "num_classes", "shape", "n_train", "n_test",
                                                             "x_dtype", "mean", "std", "sha256", "long_tail", "files"}}
    info["long_tail"] = {
        "ratio": float(ratio),
        "seed": int(seed),
        "base": str(base.meta.get("name")),
        "base_dir": str(base_dir),
        "base_sha256": dataset_sha256(base_dir),
        "class_counts": np.bincount(base.y_train[keep], minlength=base.num_classes).tolist(),
        "base_class_counts": np.bincount(base.y_train, minlength=base.num_classes).tolist(),
    }
    return _write_prepared(str(base.meta["name"]), out_dir, base.x_train[keep], base.y_train[keep],
                           base.x_test, base.y_test, info, num_classes=base.num_classes)


def load_dataset(data_dir: str | os.PathLike, verify: bool = True) -> Dataset:
    """Load a prepared dataset; with ``verify`` check every array against its sha256."""
    d = Path(data_dir)
    if not (d / "meta.json").exists():
        raise FileNotFoundError(f"{d}: no meta.json — run `prunebench fetch` first")
    meta = io.read_json(d / "meta.json")
    tr, te = io.load_npz(d / "train.npz"), io.load_npz(d / "test.npz")
    for part, z in (("train", tr), ("test", te)):
        if set(z) != {"x", "y"}:
            raise ValueError(f"{d}/{part}.npz: expected arrays x and y, found {sorted(z)}")
    ds = Dataset(tr["x"], tr["y"], te["x"], te["y"], meta)
    if verify:
        for key, arr in (("x_train", ds.x_train), ("y_train", ds.y_train), ("x_test", ds.x_test), ("y_test", ds.y_test)):
            if io.sha256_array(arr) != meta["sha256"][key]:
                raise ValueError(
                    f"{d}: content of {key} does not match the sha256 in meta.json "
                    "(the file changed since it was prepared; re-run `prunebench fetch`)"
                )
    return ds


def dataset_sha256(data_dir: str | os.PathLike) -> str:
    """One hash for the training set (x and y): recorded in every score file."""
    meta = io.read_json(Path(data_dir) / "meta.json")
    return io.sha256_array(np.frombuffer((meta["sha256"]["x_train"] + meta["sha256"]["y_train"]).encode(), np.uint8))

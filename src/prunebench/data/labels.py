"""Range checks of training labels (``labels.npz`` ``y``) against the prepared dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def check_labels(y: np.ndarray, num_classes: int, path: str | os.PathLike, n: int | None = None) -> np.ndarray:
    """``y`` must be a vector of integers in ``0..num_classes-1`` (and ``n`` long when given).

    Float labels would train silently (cast on the way), labels ≥ C or < 0 would index past the
    logits (a bare torch ``IndexError``) or be selected as a class of their own. Returns ``y``."""
    y = np.asarray(y)
    where = f"{path}: labels 'y'"
    if y.ndim != 1:
        raise ValueError(f"{where} must be a vector, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{where} must be integers (int64), got {y.dtype}; rebuild the file with "
                         "`prunebench noise` (or delete it and rerun snakemake)")
    if n is not None and len(y) != n:
        raise ValueError(f"{path}: {len(y)} labels for {n} training samples (labels of other data?)")
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if len(bad):
        raise ValueError(f"{where}: {len(bad)} label(s) outside 0..{num_classes - 1} (the dataset's {num_classes} "
                         f"classes), e.g. {y[bad[:3]].tolist()} at index {bad[:3].tolist()}; rebuild the file "
                         "with `prunebench noise` (or delete it and rerun snakemake)")
    return y


def save_labels(path: str | os.PathLike, y: np.ndarray, flipped: np.ndarray, **info) -> None:
    """``labels.npz`` (``y``, ``flipped``) and its record ``labels.meta.json`` (``info``, the count of
    flipped labels, and the npz's sha256, which every reader checks before use)."""
    from .. import io

    digest = io.save_npz(path, y=y, flipped=flipped)
    io.write_sidecar(path, {**info, "n": int(len(y)), "n_flipped": int(np.sum(flipped))}, digest)


def check_labels_file(labels_path: str | os.PathLike, data_dir: str | os.PathLike) -> np.ndarray:
    """Load ``labels.npz`` and check it against ``data_dir/meta.json`` (classes, training-set size)."""
    from .. import io

    meta = io.read_json(Path(data_dir) / "meta.json")
    y = io.load_npz(labels_path)["y"]
    return check_labels(y, int(meta["num_classes"]), labels_path, int(meta["n_train"]))


def read_labels(labels_path: str | os.PathLike, meta_file: str | os.PathLike | None = None) -> np.ndarray:
    """``labels.npz``'s ``y``, range-checked against a prepared dataset's ``meta.json`` when one is given."""
    from .. import io

    y = io.load_npz(labels_path)["y"]
    if meta_file is not None:
        meta = io.read_json(meta_file)
        check_labels(y, int(meta["num_classes"]), labels_path, int(meta["n_train"]))
    return y

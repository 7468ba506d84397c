"""The score-file contract: ``seed{s}.csv`` (``index,score``) + ``seed{s}.meta.json``.

Any program, in any language, that writes this pair is a scorer; the DAG runs
:func:`validate` on every score file before selection uses it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from . import __version__, io

META_FIELDS = ("method", "keep", "params", "dataset_sha256", "version")


class ScoreFileError(ValueError):
    """A score file that breaks the contract; the message names file and problem."""


def meta_path(csv_path: str | os.PathLike) -> Path:
    """``seed{s}.meta.json`` beside ``seed{s}.csv``: the score file's record (:func:`prunebench.io.sidecar`)."""
    return io.sidecar(csv_path)


def write(csv_path: str | os.PathLike, scores: np.ndarray, method: str, keep: str, params: dict,
          dataset_sha256: str, extra: dict | None = None) -> None:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"{method}: scores must be a vector, got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        bad = np.flatnonzero(~np.isfinite(scores))[:5].tolist()
        raise ValueError(f"{method}: non-finite scores at indices {bad}")
    text = "\n".join(["index,score"] + [f"{i},{v!r}" for i, v in enumerate(scores.tolist())]) + "\n"
    meta = {"method": method, "keep": keep, "params": params, "dataset_sha256": dataset_sha256,
            "version": __version__, "n": len(scores), **(extra or {})}
    io.write_sidecar(csv_path, meta, hashlib.sha256(text.encode("utf-8")).hexdigest())  # checked by read()
    io.write_text(csv_path, text)


def read(csv_path: str | os.PathLike, n: int | None = None, dataset_sha256: str | None = None) -> tuple[np.ndarray, dict]:
    """Read and validate; returns ``(scores in index order, meta)``."""
    p = Path(csv_path)
    if not p.exists():
        raise ScoreFileError(f"{p}: score file missing")
    mp = meta_path(p)
    if not mp.exists():
        raise ScoreFileError(f"{p}: meta file {mp.name} missing")
    try:
        meta = io.read_json(mp)
        io.verify_file(p)  # the CSV's sha256, when its meta records one (a program of ours always does)
    except io.IntegrityError as exc:
        raise ScoreFileError(str(exc)) from None
    missing = [f for f in META_FIELDS if f not in meta]
    if missing:
        raise ScoreFileError(f"{mp}: meta lacks field(s) {', '.join(missing)}")
    if meta["keep"] not in ("high", "low"):
        raise ScoreFileError(f"{mp}: keep must be 'high' or 'low', got {meta['keep']!r}")
    with open(p, encoding="utf-8") as fh:
        header = fh.readline().strip().replace(" ", "")
    if header != "index,score":
        raise ScoreFileError(f"{p}: header must be 'index,score', got {header!r}")
    _check_complete(p)
    try:
        raw = np.loadtxt(p, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ScoreFileError(f"{p}: unparsable row ({exc})") from exc
    if raw.shape[1] != 2:
        raise ScoreFileError(f"{p}: expected two columns, got {raw.shape[1]}")
    idx, val = raw[:, 0], raw[:, 1]
    if not np.all(np.isfinite(val)):
        bad = idx[~np.isfinite(val)][:5].astype(int).tolist()
        raise ScoreFileError(f"{p}: NaN/inf scores at index {bad}")
    if np.any(idx != np.round(idx)):
        raise ScoreFileError(f"{p}: non-integer index values")
    idx = idx.astype(np.int64)
    if n is not None and len(idx) != n:
        raise ScoreFileError(f"{p}: {len(idx)} rows, expected {n} (one per training sample)")
    size = n if n is not None else len(idx)
    if idx.min(initial=0) < 0 or idx.max(initial=-1) >= size:
        raise ScoreFileError(f"{p}: index out of range 0..{size - 1}")
    uniq, counts = np.unique(idx, return_counts=True)
    if np.any(counts > 1):
        raise ScoreFileError(f"{p}: duplicate indices {uniq[counts > 1][:5].tolist()}")
    if len(uniq) != size:
        missing_idx = np.setdiff1d(np.arange(size), uniq)[:5].tolist()
        raise ScoreFileError(f"{p}: missing indices {missing_idx}")
    if dataset_sha256 is not None and meta["dataset_sha256"] != dataset_sha256:
        raise ScoreFileError(f"{mp}: dataset_sha256 does not match the prepared dataset (scored on other data?)")
    scores = np.empty(size, np.float64)
    scores[idx] = val
    return scores, meta


def read_all(csv_paths, n: int | None = None, dataset_sha256: str | None = None) -> list[tuple[np.ndarray, dict]]:
    """:func:`read` of every file, in order: all of them are checked before a caller writes anything."""
    return [read(p, n=n, dataset_sha256=dataset_sha256) for p in csv_paths]


def check_keep(csv_path: str | os.PathLike, meta: dict, keep: str | None, keep_key: str | None = None) -> None:
    """A declared direction ``keep`` (the config's ``external_scorers.NAME.keep``, named ``keep_key``
    in the message) must be the meta's ``keep``: selection, the correlation figures and the studies
    all read the meta, so a silent override would make them disagree; a mismatch stops the job."""
    if keep and meta["keep"] != keep:
        raise ScoreFileError(f"{meta_path(csv_path)}: keep is {meta['keep']!r}, but the config says "
                             f"{keep_key or 'keep'}: {keep}; make them agree (fix the program's meta, or the "
                             f"config's keep)")


def _check_complete(p: Path) -> None:
    """Every row ends with a newline: a file cut short mid-number (``0.12`` of ``0.1234``) still parses,
    so the missing final newline is what tells it apart from a complete file."""
    with open(p, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
    if last != b"\n":
        raise ScoreFileError(f"{p}: the last row does not end with a newline (file cut short, e.g. mid-number?); "
                             "a score file ends every row, the last one included, with '\\n' — rerun its scorer")

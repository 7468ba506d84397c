"""Atomic file writing and hashing: the only place the package writes files.

Every writer goes to a temporary file in the destination directory and
``os.replace``-s it into place, so a killed process never leaves a half file
that Snakemake or DVC would take for a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

TMP_PREFIX = ".tmp-prunebench-"



def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0666 minus the umask."""
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path next to ``path``; rename it onto ``path`` on success.

    ``suffix`` lets writers that append an extension (``np.save``) keep it.
    On any exception the temp file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(), suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file 0600 and os.replace keeps the mode: give outputs the mode open()
    # would, so results stay readable to a group on a shared cluster or DVC cache
    os.chmod(tmp_path, _file_mode())
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _tmp_prefix() -> str:
    """``.tmp-prunebench-<pid>@<host>~``: who writes it, so a sweep can tell a dead writer's file."""
    return f"{TMP_PREFIX}{os.getpid()}@{socket.gethostname()}~"


_TMP_NAME = re.compile(re.escape(TMP_PREFIX) + r"(\d+)@([^~]*)~")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temps(*roots: str | os.PathLike) -> list[Path]:
    """Remove the temp files that killed writers (SIGKILL, the OOM killer) left under ``roots``.

    A temp file is stale when its writer, named in the file name, was a process of this host that
    no longer runs. Files of live processes (another Snakemake in the same folder) and of other
    hosts (a shared file system) are left alone. Returns what was removed.
    """
    host = socket.gethostname()
    gone = []
    for root in map(Path, roots):
        if not root.exists():
            continue
        for p in root.rglob(TMP_PREFIX + "*"):
            m = _TMP_NAME.match(p.name)
            if p.is_file() and m and m.group(2) == host and not _alive(int(m.group(1))):
                p.unlink(missing_ok=True)
                gone.append(p)
    return gone


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Deterministic JSON: sorted keys, fixed indent, trailing newline."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def save_npy(path: str | os.PathLike, arr: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, arr, allow_pickle=False)


def save_npz(path: str | os.PathLike, compressed: bool = False, **arrays: np.ndarray) -> None:
    """npz with deterministic bytes (numpy writes fixed zip timestamps)."""
    with atomic_path(path, suffix=".npz") as tmp:
        (np.savez_compressed if compressed else np.savez)(tmp, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an npz, with a clear error for a truncated file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError, ...
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})"
                         + _prepared_data_hint(path)) from exc


def _prepared_data_hint(path: str | os.PathLike) -> str:
    """How to rebuild a damaged prepared-data file (``data/{id}/train.npz`` or ``test.npz``)."""
    p = Path(path)
    if p.name not in ("train.npz", "test.npz"):
        return ""
    return (f"; the prepared data are damaged: delete {p.parent}/ and rerun snakemake (it prepares them again), "
            f"or run `prunebench fetch --dataset NAME --out {p.parent}` with the config's dataset options")


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    import torch

    with atomic_path(path, suffix=".pt") as tmp, open(tmp, "wb") as fh:
        # through a file object torch names the archive "archive", not after the (random) temp
        # file: the same checkpoint gives the same bytes
        torch.save(obj, fh)


def write_csv(path: str | os.PathLike, header: list[str], rows: list[list[Any]] | np.ndarray) -> None:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([_fmt(v) for v in row])
    write_text(path, buf.getvalue())


def write_dataframe(path: str | os.PathLike, df: Any) -> None:
    """Write a pandas DataFrame as CSV atomically with a fixed float format."""
    write_text(path, df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_array(arr: np.ndarray) -> str:
    """Content hash of an array: dtype, shape and C-order bytes."""
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256()
    h.update(str(arr.dtype).encode())
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()

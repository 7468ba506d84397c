"""Atomic file writing, hashing and verified reading: the only place the package writes files.

Every writer goes to a temporary file in the destination directory and
``os.replace``-s it into place, so a killed process never leaves a half file
that Snakemake or DVC would take for a finished one.

Integrity: every JSON file written here carries its own sha256 (``content_sha256``, the hash of the
file's canonical text without that key), and every binary or CSV contract file has its sha256 recorded
by its writer in its record: the per-file sidecar ``X.meta.json`` (``sha256``: scores, subsets,
labels) or the folder's manifest (``files``: ``meta.json`` of a prepared dataset, ``surrogate.json`` of a
surrogate run). Readers (:func:`read_json`, :func:`load_npz`, :func:`load_npy`, :func:`load_torch`,
:func:`verify_file`) check it before use, and check ``.npz``/``.pt`` archives structurally (zip CRC), so
a damaged file stops the job with one line naming it and the command that rebuilds it.
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

from .paths import rebuild_target

TMP_PREFIX = ".tmp-prunebench-"
#: the key under which a JSON file written here records its own sha256
SELF_HASH = "content_sha256"
#: folder manifests that record the sha256 of the files below them (``files``: relative path → sha256)
MANIFESTS = ("meta.json", "surrogate.json")


class IntegrityError(ValueError):
    """A file whose bytes are not what its writer recorded (or not a well-formed archive)."""


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(), suffix=suffix or path.suffix, dir=path.parent)
    except OSError as exc:
        err = storage_error(exc, path)
        if err is None:
            raise
        raise err from None
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
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()  # first: a full disk gets the space back for the error message
        err = storage_error(exc, path)
        if err is not None:
            raise err from None
        raise


class StorageError(OSError):
    """A write the file system refused: disk full, read-only, no permission (one line, in the job's log)."""


def storage_error(exc: BaseException, path: Path) -> StorageError | None:
    """The one-line error for a write to ``path`` that failed for want of space or of write access, or
    None for any other failure."""
    import errno
    import shutil

    folder = next((p for p in [path.parent, *path.parents] if p.exists()), Path("."))
    no_space = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    no_space |= isinstance(exc, OSError) and exc.errno is None and " written" in str(exc)  # numpy: "N requested and M written"
    if no_space:
        free = shutil.disk_usage(folder).free
        return StorageError(f"{path}: no space left on the device while writing it ({_size(free)} free in "
                            f"{folder}); nothing was written — free space or move the run to a larger disk, then rerun")
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "is on a read-only file system" if exc.errno == errno.EROFS else "is not writable"
        return StorageError(f"{folder}: the folder {why}, so {path.name} cannot be written; make it writable "
                            "(or run in a writable copy), then rerun")
    return None


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


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


def write_bytes(path: str | os.PathLike, data: bytes) -> str:
    """Returns the sha256 of ``data`` (for the file's record)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def write_text(path: str | os.PathLike, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"


def _self_hash(obj: dict) -> str:
    """sha256 of ``obj``'s canonical text as it reads back (numpy values, int keys: as JSON has them)."""
    return hashlib.sha256(_json_text(json.loads(_json_text(obj))).encode("utf-8")).hexdigest()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Deterministic JSON: sorted keys, fixed indent, trailing newline; a mapping records its own
    sha256 under :data:`SELF_HASH`, which :func:`read_json` checks."""
    if isinstance(obj, dict):
        body = {k: v for k, v in obj.items() if k != SELF_HASH}
        obj = {**body, SELF_HASH: _self_hash(body)}
    write_text(path, _json_text(obj))


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
    """A JSON file; one written by :func:`write_json` is checked against the sha256 it records (and
    returned without that key). A file without the key (an external program's) is read as it is."""
    with open(path, encoding="utf-8") as fh:
        try:
            obj = json.load(fh)
        except ValueError as exc:
            raise IntegrityError(f"{path}: not valid JSON ({exc}); {rebuild_hint(path)}") from None
    if isinstance(obj, dict) and SELF_HASH in obj:
        want = obj.pop(SELF_HASH)
        with _timed_check():
            got = _self_hash(obj)
        if got != want:
            raise IntegrityError(_mismatch(path, want, got, "its own content_sha256"))
    return obj


def save_npy(path: str | os.PathLike, arr: np.ndarray) -> str:
    """Returns the written file's sha256 (for its record)."""
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, arr, allow_pickle=False)
        digest = sha256_file(tmp)
    return digest


def save_npz(path: str | os.PathLike, compressed: bool = False, **arrays: np.ndarray) -> str:
    """npz with deterministic bytes (numpy writes fixed zip timestamps); returns its sha256."""
    with atomic_path(path, suffix=".npz") as tmp:
        (np.savez_compressed if compressed else np.savez)(tmp, **arrays)
        digest = sha256_file(tmp)
    return digest


@contextlib.contextmanager
def _readable(path: str | os.PathLike, what: str) -> Iterator[None]:
    """IntegrityError ``{path}: {what} (…); rebuild it: …`` for a file its reader cannot parse (a missing
    file stays a FileNotFoundError)."""
    try:
        yield
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - BadZipFile, ValueError, EOFError, torch's RuntimeError, ...
        raise IntegrityError(f"{path}: {what} ({type(exc).__name__}: {exc}); {rebuild_hint(path)}") from None


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an npz after :func:`verify_file`."""
    verify_file(path)
    with _readable(path, "not a readable .npz file"), np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """An ``.npy`` array after :func:`verify_file`."""
    verify_file(path)
    with _readable(path, "not a readable .npy file"):
        return np.load(path, allow_pickle=False)


def load_torch(path: str | os.PathLike) -> Any:
    """A ``.pt`` file (weights only) after :func:`verify_file`: torch's own reader checks no CRC."""
    import torch

    verify_file(path)
    with _readable(path, "unreadable checkpoint"):
        return torch.load(path, map_location="cpu", weights_only=True)


def torch_save(path: str | os.PathLike, obj: Any) -> str:
    """Returns the written file's sha256 (for its record)."""
    import torch

    with atomic_path(path, suffix=".pt") as tmp:
        try:
            with open(tmp, "wb") as fh:
                # through a file object torch names the archive "archive", not after the (random) temp
                # file: the same checkpoint gives the same bytes
                torch.save(obj, fh)
        except RuntimeError as exc:  # torch words a full disk as "[enforce fail …] unexpected pos …"
            import errno
            import shutil

            if shutil.disk_usage(tmp.parent).free < 1 << 20:
                raise OSError(errno.ENOSPC, str(exc)) from exc
            raise
        digest = sha256_file(tmp)
    return digest


def write_csv(path: str | os.PathLike, header: list[str], rows: list[list[Any]] | np.ndarray) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([_fmt(v) for v in row])
    return write_text(path, buf.getvalue())


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


# --- verified reading ---------------------------------------------------------------------------

def sidecar(path: str | os.PathLike) -> Path:
    """The per-file record of ``path``: ``X.meta.json`` beside ``X.csv`` / ``X.npy`` / ``X.npz``."""
    p = Path(path)
    return p.with_name(p.stem + ".meta.json")


def write_sidecar(path: str | os.PathLike, record: dict, digest: str) -> None:
    """Write ``path``'s record :func:`sidecar` (``record`` and the file's sha256, which
    :func:`record_of` gives the readers)."""
    write_json(sidecar(path), {**record, "sha256": digest})


def record_of(path: str | os.PathLike) -> tuple[str | None, Path | None]:
    """``(sha256, record file)`` recorded for ``path`` by its writer: ``sha256`` of its sidecar, or its
    entry under ``files`` in the manifest of its folder (or of the folder above, for
    ``checkpoints/stepK.pt``). ``(None, None)`` when nothing records it (an external program's file)."""
    p = Path(path)
    if p.suffix in (".csv", ".npy", ".npz") and sidecar(p).exists():
        return read_json(sidecar(p)).get("sha256"), sidecar(p)
    for folder in (p.parent, p.parent.parent):
        for name in MANIFESTS:
            m = folder / name
            if m.exists() and m != p:
                rel = p.relative_to(folder).as_posix()
                digest = (read_json(m).get("files") or {}).get(rel)
                if digest is not None:
                    return digest, m
    return None, None


def check_archive(path: str | os.PathLike) -> None:
    """``.npz`` and ``.pt`` are zip archives: every member's CRC must match (torch's reader checks none)."""
    import zipfile

    with _readable(path, "not a readable archive"), zipfile.ZipFile(path) as z:
        bad = z.testzip()
    if bad is not None:
        raise IntegrityError(f"{path}: member {bad} fails its zip CRC (the bytes changed after writing); "
                             f"{rebuild_hint(path)}")


def verify_file(path: str | os.PathLike) -> str | None:
    """Check ``path`` before use: its sha256 against its record (:func:`record_of`) and, for ``.npz`` and
    ``.pt``, its zip CRCs. Returns the recorded sha256 (None when unrecorded); IntegrityError naming the
    file, the record, and the command that rebuilds it, when they disagree."""
    with _timed_check():
        return _verify_file(path)


def _verify_file(path: str | os.PathLike) -> str | None:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: file missing; {rebuild_hint(p)}")
    want, rec = record_of(p)
    if want is not None:
        got = sha256_file(p)
        if got != want:
            raise IntegrityError(_mismatch(p, want, got, str(rec)))
    if p.suffix in (".npz", ".pt"):
        check_archive(p)
    return want


def _mismatch(path, want: str, got: str, where: str) -> str:
    return (f"{path}: sha256 {got[:16]}… differs from the {want[:16]}… recorded in {where} (the file changed "
            f"after it was written); {rebuild_hint(path)}")


#: benchmarks/integrity_cost.py: each process adds the seconds its checks took to this file, when set
CHECK_TIMING_ENV = "PRUNEBENCH_CHECK_TIMING"
_checks = {"seconds": 0.0, "depth": 0, "reporting": False}


@contextlib.contextmanager
def _timed_check() -> Iterator[None]:
    if CHECK_TIMING_ENV not in os.environ:
        yield
        return
    import atexit
    import time

    if not _checks["reporting"]:
        _checks["reporting"] = True
        atexit.register(_report_check_seconds)
    _checks["depth"] += 1
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _checks["depth"] -= 1
        if _checks["depth"] == 0:  # a manifest read inside a file check counts once
            _checks["seconds"] += time.perf_counter() - t0


def _report_check_seconds() -> None:
    with open(os.environ[CHECK_TIMING_ENV], "a", encoding="utf-8") as fh:  # benchmark output, not a contract file
        fh.write(f"{_checks['seconds']:.6f}\n")


#: the environment variable the workflow sets to the command line that runs this plan
COMMAND_ENV = "PRUNEBENCH_SNAKEMAKE"


def rebuild_hint(path: str | os.PathLike) -> str:
    """``rebuild it: snakemake … --forcerun TARGET`` for a damaged file (its producing job's declared
    output: :func:`prunebench.paths.rebuild_target`); the run's own command line when the workflow set it."""
    cmd = os.environ.get(COMMAND_ENV) or "snakemake --cores all"
    return f"rebuild it: {cmd} --forcerun {rebuild_target(path)}"

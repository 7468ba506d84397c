"""A reader for the IDX format (LeCun's MNIST files), plain or gzipped."""

from __future__ import annotations

import gzip
import os

import numpy as np

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Decode an IDX file into a native-endian numpy array.

    Raises ``ValueError`` naming the file for a bad magic number, an unknown
    type code, or a payload shorter or longer than the header promises.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[code])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: IDX payload is {len(raw) - header} bytes, header promises {expected} for shape {dims} "
            "(truncated or corrupted file)"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, arr: np.ndarray) -> None:
    """Write ``arr`` as IDX (used by tests and to cache downloads)."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
    arr = np.asarray(arr)
    code = codes[arr.dtype.newbyteorder("=")]
    payload = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    payload += arr.astype(np.dtype(_DTYPES[code])).tobytes()
    from .. import io

    gz = os.fspath(path).endswith(".gz")
    io.write_bytes(path, gzip.compress(payload, mtime=0) if gz else payload)

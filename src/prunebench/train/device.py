"""The one device switch and the determinism flags."""

from __future__ import annotations

import os
import random

import numpy as np


def resolve_device(name: str = "auto") -> "torch.device":  # noqa: F821
    """``auto`` → CUDA if present, else MPS if present, else CPU."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but CUDA is not available")
    return torch.device(name)


def seed_numpy(seed: int) -> None:
    """Seed Python's and numpy's global RNGs (torch untouched: not imported)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))


def skip_dynamo_import() -> bool:
    """Let ``torch.optim`` run without importing ``torch._dynamo`` (1.1–1.9 s per process here).

    ``torch.optim.Optimizer``'s ``__init__`` (through ``add_param_group``), ``zero_grad``,
    ``state_dict`` and ``load_state_dict`` are wrapped by ``torch._disable_dynamo``, which imports
    ``torch._dynamo`` on its first call to build a "do not compile this" wrapper, and caches it on
    the function as ``__dynamo_disable``. This package never calls ``torch.compile``, so the
    wrapper would do nothing; caching the plain function there skips the import. Every training
    and scoring job paid it (about a third of a digits retraining job's CPU time). Returns whether
    the functions were found; with another torch layout (or ``PRUNEBENCH_KEEP_DYNAMO=1``, or
    ``torch._dynamo`` already imported) nothing changes."""
    import sys

    import torch

    if os.environ.get("PRUNEBENCH_KEEP_DYNAMO") or "torch._dynamo" in sys.modules:
        return False
    found = False
    for name in ("add_param_group", "zero_grad", "state_dict", "load_state_dict"):
        fn = getattr(getattr(torch.optim.Optimizer, name, None), "__wrapped__", None)
        if callable(fn) and getattr(fn, "__dynamo_disable", None) is None:
            fn.__dynamo_disable = fn
            found = True
    return found


def set_determinism(seed: int, threads: int = 1) -> None:
    """Seed every RNG and fix the thread count.

    On CPU, results are bit-identical for a fixed ``threads`` (default 1, so the
    same whatever Snakemake's ``--cores``). Where CUDA is present, cuDNN is put in
    deterministic mode and ``torch.use_deterministic_algorithms(True,
    warn_only=True)`` is set; some kernels (scatter/index_add) remain
    non-deterministic there (docs/reference/reliability.md). That switch is left alone on a
    CPU-only machine: it imports ``torch._inductor`` and ``torch._dynamo`` (1.4 s
    here, in every job) and the CPU kernels this package uses are deterministic
    at a fixed thread count without it (the determinism tests check the bytes).
    """
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    seed_numpy(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, int(threads)))
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        skip_dynamo_import()  # (on CUDA the line above imports torch._dynamo anyway)

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


def set_determinism(seed: int, threads: int = 1) -> None:
    """Seed every RNG and fix the thread count.

    On CPU, results are bit-identical for a fixed ``threads`` (default 1, so the
    same whatever Snakemake's ``--cores``). Where CUDA is present, cuDNN is put in
    deterministic mode and ``torch.use_deterministic_algorithms(True,
    warn_only=True)`` is set; some kernels (scatter/index_add) remain
    non-deterministic there (docs/reliability.md). That switch is left alone on a
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

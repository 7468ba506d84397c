import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """A test whose system service (a Debian package, a SLURM cluster) is missing: skipped with the reason
    on a developer's machine, a failure under CI (``CI=true``), where ``.ci/run`` installs the service."""
    if under_ci():
        pytest.fail(f"{reason} — CI=true: .ci/run installs it, so this test must run, not skip")
    pytest.skip(reason)


def snakemake_bin() -> str:
    exe = Path(sys.executable).parent / "snakemake"
    return str(exe) if exe.exists() else "snakemake"


def make_workdir(tmp: Path) -> Path:
    """A copy of workflow/ and config/ in a temp dir: runs never touch the repo's results/."""
    for d in ("workflow", "config"):
        shutil.copytree(ROOT / d, tmp / d)
    shutil.copy(TINY, tmp / "tiny.yaml")
    return tmp


def run_snakemake(workdir: Path, *args: str, configfile: str = "tiny.yaml", check: bool = True,
                  timeout: int = 900) -> subprocess.CompletedProcess:
    """Snakemake in ``workdir``; ``args`` (targets, flags) go before ``--configfile``, which takes
    several values and would swallow targets after it."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [snakemake_bin(), *args, "--cores", "2", "--configfile", configfile]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    from prunebench.data import prepare

    d = tmp_path_factory.mktemp("data") / "digits"
    prepare("digits", d)
    return d


@pytest.fixture(scope="session")
def tiny_surrogate(tmp_path_factory, digits_dir):
    """A real surrogate run on digits (cnn_small, 4 epochs): (data_dir, labels, run_dir)."""
    from prunebench import io
    from prunebench.train.surrogate import train_surrogate

    root = tmp_path_factory.mktemp("sur")
    y = io.load_npz(digits_dir / "train.npz")["y"]
    labels = root / "labels.npz"
    io.save_npz(labels, y=y, flipped=np.zeros(len(y), bool))
    run = root / "run"
    train_surrogate(digits_dir, labels, run, "cnn_small", {"epochs": 4, "batch_size": 128, "lr": 0.05}, 0, "cpu",
                    T=4, save_epochs=[2], progress=False)
    return digits_dir, labels, run


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The uninterrupted run of the tiny config (``--cores 2``, one code snapshot) that the determinism
    and kill tests (tests/integration) share."""
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from kill_test import run_reference, take_snapshot

    root = tmp_path_factory.mktemp("reference")
    # polling for temp files only feeds the kill test's report: every 0.2 s leaves the 2 cores to the run
    return run_reference(root, take_snapshot(root / "snapshot"), cores=2, poll=0.2)

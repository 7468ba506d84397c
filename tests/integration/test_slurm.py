"""Opt-in: the tiny pipeline on a REAL single-node SLURM cluster brought up on this machine.

    python -m pytest -m slurm tests/integration/test_slurm.py      (root; Debian)

It runs tests/integration/slurm/run.sh, which installs slurmctld/slurmd/munge when missing,
starts them, runs the tests' tiny config with `--profile workflow/profiles/slurm`, checks that
every job went through SLURM and that every contract file has the same sha256 as in a local
run, and stops the daemons. It is a slow test (deselected by default). It runs when asked for
(`-m slurm`, PRUNEBENCH_SLURM_TEST=1) or under CI (CI=true: `.ci/run`'s `pytest -m slow` runs it,
as root, after installing SLURM); otherwise it skips with the reason (it needs root and takes
minutes). Once it runs, SLURM failing to start fails the test.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "integration" / "slurm" / "run.sh"

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _opted_in(config) -> bool:
    from conftest import under_ci

    expr = config.getoption("markexpr") or ""
    return (bool(re.search(r"(?<!not )\bslurm\b", expr)) or os.environ.get("PRUNEBENCH_SLURM_TEST") == "1"
            or under_ci())


def test_tiny_pipeline_on_real_slurm(request):
    if not _opted_in(request.config):
        pytest.skip("opt-in: pytest -m slurm (or PRUNEBENCH_SLURM_TEST=1, or CI=true); brings up SLURM as root")
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    if (bindir / "snakemake").exists():
        env["SNAKEMAKE"] = str(bindir / "snakemake")
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=5400)
    out = proc.stdout + proc.stderr
    print(proc.stdout[-3000:])  # the script's summary (pytest -rA / -s shows it)
    assert proc.returncode == 0, out[-8000:]
    assert re.search(r"\d+ jobs ran as SLURM jobs .*all COMPLETED", out), out[-4000:]
    assert "byte-identical to the local run" in out and "PASS" in out, out[-4000:]

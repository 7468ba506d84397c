"""What checking every file before use costs: the seconds all jobs of a run spent verifying sha256 records,
zip CRCs and JSON self-hashes, over the run's wall time, measured in one run.

    python benchmarks/integrity_cost.py                      # the default config, from scratch (~5 min)
    python benchmarks/integrity_cost.py --configfile tests/data/tiny.yaml
    python benchmarks/integrity_cost.py --keep /tmp/run      # keep the finished run (to compare its bytes)

Each job adds the seconds its checks took (``prunebench.io.CHECK_TIMING_ENV``) to one file; the sum is
compared with the run's wall time and with the CPU seconds of all its processes. Then ``prunebench verify``
checks the whole plan once over the finished run, timed on its own.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", default=None, help="a config file (default: the embedded default)")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--keep", default=None, help="run in this folder and keep it (default: a temp folder)")
    a = ap.parse_args()

    wd = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="integrity-cost-"))
    wd.mkdir(parents=True, exist_ok=True)
    for d in ("workflow", "config"):
        if not (wd / d).exists():
            shutil.copytree(ROOT / d, wd / d)
    extra = []
    if a.configfile:
        shutil.copy(ROOT / a.configfile, wd / Path(a.configfile).name)
        extra = ["--configfile", Path(a.configfile).name]
    timing = wd / "check_seconds.txt"
    timing.unlink(missing_ok=True)
    env = {**os.environ, "PRUNEBENCH_CHECK_TIMING": str(timing),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    snakemake = str(Path(sys.executable).parent / "snakemake")

    t0 = time.perf_counter()
    subprocess.run([snakemake, "--cores", a.cores, *extra], cwd=wd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru.ru_utime + ru.ru_stime
    per_process = [float(x) for x in timing.read_text().split()]
    checks = sum(per_process)

    t1 = time.perf_counter()
    proc = subprocess.run([str(Path(sys.executable).parent / "prunebench"), "verify",
                           *([Path(a.configfile).name] if a.configfile else [])],
                          cwd=wd, env={**env, "PRUNEBENCH_CHECK_TIMING": str(wd / "verify_seconds.txt")},
                          capture_output=True, text=True)
    verify_wall = time.perf_counter() - t1
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()

    print(f"run: {a.configfile or 'default config'} in {wd}")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (all processes), {len(per_process)} processes that checked files")
    print(f"checks in the jobs: {checks:.2f} s = {100 * checks / wall:.2f} % of wall, {100 * checks / cpu:.2f} % of CPU")
    print(f"prunebench verify, whole plan once: {verify_wall:.1f} s wall = {100 * verify_wall / wall:.1f} % of the "
          f"run's wall ({summary})")
    if not a.keep:
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()

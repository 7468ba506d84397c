"""What Snakemake plans, read from its own dry run: the jobs of ``snakemake -n`` with their files.

Two commands need the plan of a run as Snakemake computes it, not as the config suggests:

- ``prunebench snapshot`` versions exactly the files of the current plan: every output, log and
  benchmark file of every job of ``snakemake --dry-run --forceall`` (:func:`plan_files`);
- ``snakemake --report`` refuses while ``snakemake --dry-run`` has jobs pending
  (:mod:`prunebench.report_check`).

Both run Snakemake's command line in a subprocess and parse the job blocks it prints
(``rule NAME:`` then indented ``output: a, b``, ``log: ...``, ``benchmark: ...``, ``reason: ...``
lines): the command line is the interface Snakemake keeps stable, its DAG objects are not. The
subprocess parses the workflow again and builds the DAG: about 2 s for the tests' tiny config and 8 s
for the default config on a 2-core machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: the first line of a job block: ``rule score:``, ``localrule aggregate:``, ``checkpoint x:``
_JOB = re.compile(r"^(local)?(rule|checkpoint) (?P<rule>[^\s:]+):\s*$")
#: a field of a job block
_FIELD = re.compile(r"^ {4}(?P<key>[a-z_]+): (?P<value>.*)$")
_LISTS = ("input", "output", "log")


class DryRunError(RuntimeError):
    """``snakemake --dry-run`` failed (a config error, a missing input): its output says why."""


@dataclass
class Job:
    """One job of a dry run: its rule, files and Snakemake's reason for running it."""

    rule: str
    checkpoint: bool = False
    input: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    benchmark: str | None = None
    reason: str = ""

    def products(self) -> list[str]:
        """Every file the job writes that Snakemake knows of: outputs, benchmark, logs."""
        return self.output + ([self.benchmark] if self.benchmark else []) + self.log


def parse(text: str) -> list[Job]:
    """The job blocks of ``snakemake --dry-run`` output, in printed order."""
    jobs: list[Job] = []
    job = None
    for line in text.splitlines():
        m = _JOB.match(line)
        if m:
            job = Job(m["rule"], checkpoint=m.group(2) == "checkpoint")
            jobs.append(job)
            continue
        f = _FIELD.match(line) if job is not None else None
        if f is None:
            if line and not line.startswith(" "):
                job = None  # the block ended (a date line, the job stats, a message)
            continue
        key, value = f["key"], f["value"].strip()
        if key in _LISTS:
            setattr(job, key, [v for v in value.split(", ") if v])
        elif key == "benchmark":
            job.benchmark = value
        elif key == "reason":
            job.reason = value
    return jobs


def snakemake_command() -> list[str]:
    """Snakemake of this interpreter (the repository's environment)."""
    return [sys.executable, "-m", "snakemake"]


def dry_run(args: Sequence[str] = (), cwd: str | os.PathLike = ".", forceall: bool = False,
            timeout: float = 600) -> list[Job]:
    """The jobs ``snakemake --dry-run [--forceall] ARGS`` plans in ``cwd`` (every job of the plan with
    ``forceall``; only the pending ones without). Raises :class:`DryRunError` when the dry run fails."""
    cmd = [*snakemake_command(), "--dry-run", *(["--forceall"] if forceall else []), *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + "\n" + proc.stderr
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise DryRunError(f"`snakemake --dry-run {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")
    return parse(out)


def plan_files(args: Sequence[str] = (), cwd: str | os.PathLike = ".") -> set[str]:
    """Every file of the plan (outputs, benchmark and log files of every job of ``snakemake --dry-run
    --forceall ARGS``), as posix paths relative to ``cwd``. A directory output stands for everything
    under it. Raises :class:`DryRunError` on a failed dry run or a plan with a checkpoint rule (its
    downstream jobs are only known once it ran)."""
    jobs = dry_run(args, cwd, forceall=True)
    if not jobs:
        raise DryRunError(f"`snakemake --dry-run --forceall {' '.join(args)}` printed no job")
    checkpoints = sorted({j.rule for j in jobs if j.checkpoint})
    if checkpoints:
        raise DryRunError(f"the plan has checkpoint rules ({', '.join(checkpoints)}): the jobs after them are "
                          "not known before they run, so the plan's files cannot be listed")
    root = Path(cwd).resolve()
    out = set()
    for job in jobs:
        for p in job.products():
            q = Path(p)
            if q.is_absolute() and q.is_relative_to(root):
                q = q.relative_to(root)
            out.add(q.as_posix())
    return out

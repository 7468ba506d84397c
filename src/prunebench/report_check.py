"""``snakemake --report`` refuses to build a report while the run has jobs pending.

Snakemake's ``--report`` builds the HTML report from whatever figures and tables are on disk: after a
config change, a code change or a half-finished run it shows outputs the current plan would rebuild,
and says nothing. The workflow calls :func:`refuse_if_pending` while Snakemake parses it
(``workflow/rules/figures.smk``): when the command line is a report (``--report``, not
``--report-after-run``, which builds the report after the run), it runs ``snakemake --dry-run`` with the
same arguments, the report options left out (:func:`dry_run_args`), and when that plans any job it
stops Snakemake before the report is written, with one message: how many jobs are pending and of
which rules, the first outputs with Snakemake's reason, and the command that finishes them.

Why refuse rather than warn inside the report: a warning at the top of an HTML page travels with the
page and is easily skipped; a refused report cannot be mistaken for the run's result, and the fix
(finish the run, or ``snakemake --touch`` right after a ``dvc checkout``, see docs/guides/dvc.md) is one
command. The cost is one dry run: about 2 s for the tests' tiny config and 8 s for the default config
on a 2-core machine, next to the report's own 3 s and more.

Snakemake knows nothing of staleness when it builds a report (it builds the DAG only to find the
files marked ``report()``), and a Snakefile cannot see the DAG it is about to build, so the check
runs the dry run in a subprocess; it reads the command line from ``sys.argv`` (the ``snakemake``
program), as a workflow parsed through Snakemake's Python API has no report flag to read.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .dryrun import DryRunError, Job, dry_run

#: report options that take a value (``--report`` itself takes an optional one)
VALUE_OPTIONS = ("--report-stylesheet", "--report-metadata", "--reporter", "--report-html-path",
                 "--report-html-stylesheet-path")
#: Snakemake's --quiet choices: left out, the dry run must print its jobs
QUIET_CHOICES = ("all", "host", "progress", "rules", "reason")
#: outputs named in the message, and the characters of Snakemake's reason shown for each
SHOW, REASON_CHARS = 8, 100
#: Snakemake's reason for a job that is pending only because a job before it is
FOLLOWS = "Input files updated by another job"


def _is_snakemake(program: str) -> bool:
    p = Path(program)
    return p.name == "snakemake" or (p.name == "__main__.py" and p.parent.name == "snakemake")


def dry_run_args(argv: Sequence[str]) -> list[str] | None:
    """The arguments of a ``snakemake --report`` command line (``argv`` with the program first) without
    its report and ``--quiet`` options; None when ``argv`` is not one (another program, no ``--report``,
    or ``--report-after-run``: the report follows the run)."""
    if not argv or not _is_snakemake(argv[0]):
        return None
    args = list(argv[1:])
    if "--report-after-run" in args or not any(a == "--report" or a.startswith("--report=") for a in args):
        return None
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        name = a.split("=", 1)[0]
        if a == "--report":  # argparse nargs="?": the next word is its path unless it is an option
            i += 2 if i + 1 < len(args) and not args[i + 1].startswith("-") else 1
        elif name == "--report" or (name in VALUE_OPTIONS and "=" in a):
            i += 1
        elif a in VALUE_OPTIONS:
            i += 2
        elif a in ("-q", "--quiet"):
            i += 1
            while i < len(args) and args[i] in QUIET_CHOICES:
                i += 1
        else:
            out.append(a)
            i += 1
    return out


def report_path(argv: Sequence[str]) -> str:
    """The report file a ``snakemake --report`` command line writes (Snakemake's default: report.html)."""
    args = list(argv[1:])
    for i, a in enumerate(args):
        if a.startswith("--report="):
            return a.split("=", 1)[1]
        if a == "--report":
            return args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-") else "report.html"
    return "report.html"


def _short(reason: str) -> str:
    return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 3] + "..."


def message(jobs: Sequence[Job], args: Sequence[str], report: str) -> str:
    """The refusal: pending jobs by rule, the first outputs with Snakemake's reason, the command to finish."""
    rules = Counter(j.rule for j in jobs)
    by_rule = ", ".join(f"{r} ×{n}" if n > 1 else r for r, n in sorted(rules.items(), key=lambda x: (-x[1], x[0])))
    # the causes first (a missing output, changed inputs, code or params), then what merely follows them
    causes = sorted(jobs, key=lambda j: j.reason.startswith(FOLLOWS))
    outputs = [(o, _short(j.reason)) for j in causes for o in j.output]
    lines = [f"prunebench: refusing to build the report {report}: {len(jobs)} job(s) of this run are pending "
             f"(snakemake -n), so its figures and tables are missing or out of date: {by_rule}."]
    if outputs:
        lines.append("Out of date (Snakemake's reason):")
        lines += [f"  {o}  ({reason or 'pending'})" for o, reason in outputs[:SHOW]]
        if len(outputs) > SHOW:
            lines.append(f"  ... and {len(outputs) - SHOW} more outputs (snakemake -n {shlex.join(args)} lists them)")
    lines.append(f"Finish the run, then build the report again: snakemake {shlex.join(args)}")
    lines.append("(Right after `dvc checkout` / `dvc pull` the outputs are current but their times are not: "
                 "snakemake --touch with the same arguments restores them, see docs/guides/dvc.md.)")
    return "\n".join(lines)


def refuse_if_pending(argv: Sequence[str] | None = None, cwd: str | os.PathLike = ".") -> None:
    """Stop (SystemExit with :func:`message`) when ``argv`` (default: ``sys.argv``) builds a report and
    ``snakemake --dry-run`` with the same arguments plans any job; return otherwise."""
    argv = list(sys.argv if argv is None else argv)
    args = dry_run_args(argv)
    if args is None:
        return
    report = report_path(argv)
    try:
        jobs = dry_run(args, cwd)
    except DryRunError as exc:
        raise SystemExit(f"prunebench: refusing to build the report {report}: the run's plan does not build, "
                         f"so it cannot be checked for pending jobs.\n{exc}") from None
    if jobs:
        raise SystemExit(message(jobs, args, report))

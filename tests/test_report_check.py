"""`snakemake --report` refuses while `snakemake -n` has jobs pending (prunebench.report_check, hooked in
workflow/rules/figures.smk), naming the pending jobs, the out-of-date outputs and the command that finishes
them; with nothing pending it builds the report. The runs reuse the tiny DAG of the default selection (the
`reference` fixture, tests/conftest.py) through a copy."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prunebench import report_check as rc
from prunebench.dryrun import Job

SMK = str(Path(sys.executable).parent / "snakemake")
REPORT = "results/tiny/report.html"


@pytest.mark.parametrize("argv, expected", [
    ([SMK, "--report", "r.html", "--configfile", "a.yaml"], ["--configfile", "a.yaml"]),
    ([SMK, "--report", "--configfile", "a.yaml"], ["--configfile", "a.yaml"]),  # --report's default path
    ([SMK, "--configfile", "a.yaml", "b.yaml", "--report=r.zip", "all"], ["--configfile", "a.yaml", "b.yaml", "all"]),
    ([SMK, "--report", "r.html", "--report-stylesheet", "s.css", "-q", "rules", "--cores", "2"], ["--cores", "2"]),
    (["/x/site-packages/snakemake/__main__.py", "--report", "r.html"], []),  # python -m snakemake
    ([SMK, "--report", "r.html", "--report-after-run"], None),  # the report follows the run
    ([SMK, "--cores", "all"], None),  # not a report
    (["/usr/bin/pytest", "--report", "r.html"], None),  # not snakemake
])
def test_dry_run_args_drop_the_report_options(argv, expected):
    assert rc.dry_run_args(argv) == expected


def test_report_path():
    assert rc.report_path([SMK, "--report", "a/r.html", "-n"]) == "a/r.html"
    assert rc.report_path([SMK, "--report=r.zip"]) == "r.zip"
    assert rc.report_path([SMK, "--report", "--cores", "1"]) == "report.html"


def test_message_names_jobs_outputs_reasons_and_the_command():
    jobs = [Job("retrain_main", output=[f"r/seed{s}.json"], reason="Missing output files") for s in range(12)]
    jobs += [Job("aggregate", output=["t/retrain.csv", "t/accuracy.csv"], reason="Input files updated by another job"),
             Job("all")]
    msg = rc.message(jobs, ["--configfile", "my config.yaml"], "r.html")
    first = msg.splitlines()[0]
    assert "refusing to build the report r.html: 14 job(s)" in first
    assert "retrain_main ×12, aggregate, all" in first
    assert "  r/seed0.json  (Missing output files)" in msg and "... and 6 more outputs" in msg
    assert "snakemake --configfile 'my config.yaml'" in msg and "--touch" in msg


def test_no_report_no_dry_run(monkeypatch):
    """Any other command line returns at once, without running Snakemake."""
    def fail(*a, **k):
        raise AssertionError("ran a dry run")

    monkeypatch.setattr(rc, "dry_run", fail)
    rc.refuse_if_pending([SMK, "--cores", "all"])
    rc.refuse_if_pending([SMK, "--report", "r.html", "--report-after-run"])


# --- on the tiny run --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_copy(reference, tmp_path_factory):
    """A copy of the finished tiny run (times and Snakemake's metadata kept: nothing is pending)."""
    dst = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(reference.workdir, dst, symlinks=True)
    (dst / "nodyn.yaml").write_text("scorers: {dynunc: null}\n")
    return dst, reference.snapshot


def _snakemake(run, *args):
    from kill_test import _env

    wd, code = run
    proc = subprocess.run([SMK, *args], cwd=wd, capture_output=True, text=True, env=_env(code), timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def test_report_of_a_finished_run_is_built(tiny_copy):
    wd = tiny_copy[0]
    (wd / REPORT).unlink(missing_ok=True)
    code, out = _snakemake(tiny_copy, "--report", REPORT, "--configfile", "tiny.yaml")
    assert code == 0, out[-3000:]
    assert (wd / REPORT).stat().st_size > 100_000 and "refusing" not in out


def test_report_refuses_after_a_config_change(tiny_copy):
    """A scorer removed from the config: the tables, figures and studies that read it are pending."""
    wd = tiny_copy[0]
    (wd / REPORT).unlink(missing_ok=True)
    code, out = _snakemake(tiny_copy, "--report", REPORT, "--configfile", "tiny.yaml", "nodyn.yaml")
    assert code != 0 and not (wd / REPORT).exists()
    assert f"prunebench: refusing to build the report {REPORT}: " in out
    assert "aggregate" in out and "plot_accuracy" in out
    assert "(Set of input files has changed since last execution)" in out
    assert "Finish the run, then build the report again: snakemake --configfile tiny.yaml nodyn.yaml" in out


def test_report_refuses_with_a_missing_table(tiny_copy):
    wd = tiny_copy[0]
    table = wd / "results/tiny/tables/accuracy.csv"
    kept = table.rename(table.with_suffix(".kept"))
    try:
        code, out = _snakemake(tiny_copy, "--report", REPORT, "--configfile", "tiny.yaml")
    finally:
        kept.rename(table)  # the copy is as it was: the same bytes and time
    assert code != 0, out[-3000:]
    assert "job(s) of this run are pending" in out and "aggregate" in out
    # the cause comes first, before the jobs that only follow it
    shown = out.split("Out of date (Snakemake's reason):\n", 1)[1].splitlines()
    assert shown[0].startswith("  results/tiny/tables/") and "(Missing output files: results/tiny/tables/accuracy.csv)" in shown[0]

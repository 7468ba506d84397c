"""The HTML report of a finished tiny run renders cleanly: no docutils system message (warning or error) in
the introduction (workflow/report/workflow.rst) or in any caption, and the introduction shows the config as
prose and tables, not as Python reprs. Built once from a copy of the `reference` run (tests/conftest.py), as
tests/test_report_check.py does."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SMK = str(Path(sys.executable).parent / "snakemake")
REPORT = "results/tiny/report.html"


@pytest.fixture(scope="module")
def report_html(reference, tmp_path_factory) -> str:
    from kill_test import _env

    wd = tmp_path_factory.mktemp("render") / "run"
    shutil.copytree(reference.workdir, wd, symlinks=True)
    (wd / REPORT).unlink(missing_ok=True)
    proc = subprocess.run([SMK, "--report", REPORT, "--configfile", "tiny.yaml"], cwd=wd, capture_output=True,
                          text=True, env=_env(reference.snapshot), timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return (wd / REPORT).read_text(encoding="utf-8")


def test_report_has_no_docutils_system_message(report_html):
    """docutils prints a warning or error about the reStructuredText into the page itself ("System Message:
    WARNING/2 (<string>, line 22) Duplicate explicit target name ..."); the report must have none."""
    found = [report_html[max(0, m.start() - 80) : m.end() + 200]
             for m in re.finditer(r"System Message", report_html)]
    assert not found, f"{len(found)} docutils system message(s), the first:\n{found[0]}"


def _introduction(html: str) -> str:
    """The introduction's HTML, as the report embeds it (a JSON string: up to the first unescaped quote)."""
    m = re.search(r'Experiment <strong>tiny</strong>(?:[^"\\]|\\.)*', html)
    assert m, "the introduction (workflow/report/workflow.rst) is not in the report"
    return m.group(0)


def test_introduction_is_prose_and_tables_not_reprs(report_html):
    intro = _introduction(report_html)
    # no dict or list repr of the config ({'epochs': 8, ...}, ['random', 'el2n', ...], [0.5])
    reprs = re.findall(r"[\[{](?:'|&#x27;|&#39;|\d)[^\]}]{0,60}", intro)
    assert not reprs, reprs
    assert intro.count("<table") >= 2  # the training recipes and the methods
    for text in ("epochs = 4", "batch size = 128", ">moso-adam<", "ablation", "<strong>main</strong>",
                 "each method also under the uniform protocol", "ratios 0.5"):
        assert text in intro, text

"""A pipeline SIGKILLed at a random moment (mostly mid-write) recovers with ``--rerun-incomplete``:
byte-identical contract files and no stray temp file. Two trials of tests/integration/kill_test.py
(the script runs more: ``python tests/integration/kill_test.py --trials 10``)."""

import pytest
from kill_test import format_row, kill_trials, summary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trials(reference, tmp_path_factory):
    lines = []
    ref, results = kill_trials(2, seed=1, root=tmp_path_factory.mktemp("kill"), log=lines.append, ref=reference)
    return ref, results, "\n".join(lines + [summary(ref, results)])


def test_kills_land_mid_run(trials):
    ref, results, report = trials
    assert len(ref.hashes) > 40, report
    assert all(not r["finished_before_kill"] for r in results), report
    assert all(r["incomplete_jobs"] > 0 for r in results), report


def test_rerun_recovers_byte_identical(trials):
    _, results, report = trials
    for r in results:
        assert r["rerun_rc"] == 0, report
        assert not r["differ"] and not r["missing"] and not r["extra"], (format_row(r), r["differ"], r["missing"])


def test_no_stray_temp_files_after_the_rerun(trials):
    """A job SIGKILLed mid-write leaves its .tmp-prunebench-* file; the rerun must not leave it behind."""
    _, results, report = trials
    for r in results:
        assert not r["stray_tmp"], (format_row(r), r["stray_tmp"])

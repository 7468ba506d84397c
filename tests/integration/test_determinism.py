"""Determinism: two full runs of the tiny config, one with ``--cores 2`` and one with ``--cores 1``
(different job interleavings), give the same sha256 for every contract file (data, labels,
dynamics, scores, subsets, retrain results, tables, figures)."""

import pytest
from kill_test import contract_hashes, fresh_copy, run, temp_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(reference, tmp_path_factory):
    """{cores: (workdir, contract hashes)} for the shared --cores 2 reference and a --cores 1 run
    of the same code snapshot."""
    wd = fresh_copy(tmp_path_factory.mktemp("cores1") / "wd", reference.snapshot)
    proc = run(wd, reference.snapshot, cores=1, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return {2: (reference.workdir, reference.hashes), 1: (wd, contract_hashes(wd))}


def test_contract_set_covers_every_stage(runs):
    files = runs[2][1]
    for part in ("data/digits/train.npz", "/labels.npz", "/dynamics.npz", "/scores/", "/subsets/", "/retrain/",
                 "/tables/", "/figures/"):
        assert any(part in f for f in files), part
    assert not any(f.endswith((".timing.json", ".pt")) or "/logs/" in f or "/benchmarks/" in f for f in files)


def test_cores_1_and_cores_2_are_byte_identical(runs):
    ref, one = runs[2][1], runs[1][1]
    assert sorted(ref) == sorted(one)
    differ = sorted(f for f in ref if ref[f] != one[f])
    assert not differ, differ


def test_no_temp_files_left(runs):
    for wd, _ in runs.values():
        assert temp_files(wd) == []

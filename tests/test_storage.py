"""A write the file system refuses (disk full, read-only folder) is one line in the job's log, naming the file
or folder, and leaves no partial file. Real file systems: a tmpfs of a few KiB, remounted read-only (needs
root, as CI has; skipped elsewhere, a failure under CI)."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import skip_or_fail

from prunebench import io


@contextlib.contextmanager
def tmpfs(where: Path, size: str):
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        skip_or_fail("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def run_job(args: list, log: Path) -> int:
    """``prunebench ARGS > LOG 2>&1``, as a rule's shell line runs it."""
    with open(log, "w") as fh:
        return subprocess.run([sys.executable, "-m", "prunebench.cli", *map(str, args)], stdout=fh,
                              stderr=subprocess.STDOUT).returncode


def test_a_full_disk_is_one_line_in_the_log_and_leaves_no_file(tmp_path, digits_dir):
    log = tmp_path / "noise.log"
    with tmpfs(tmp_path / "full", "4k") as mnt:
        out = mnt / "results" / "labels.npz"
        rc = run_job(["noise", "--data", digits_dir, "--noise", "sym20", "--out", out], log)
        left = sorted(p.name for p in mnt.rglob("*") if p.is_file())
    lines = log.read_text().strip().splitlines()
    assert rc == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"prunebench noise: error: {out}: no space left on the device while writing it ("), lines
    assert f"free in {out.parent}); nothing was written" in lines[0]
    assert left == [], left  # no partial file, no temp file


def test_a_read_only_folder_is_one_line_in_the_log(tmp_path, digits_dir):
    log = tmp_path / "noise.log"
    with tmpfs(tmp_path / "ro", "1m") as mnt:
        (mnt / "results").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        rc = run_job(["noise", "--data", digits_dir, "--noise", "clean", "--out", mnt / "results/clean/labels.npz"],
                     log)
    lines = log.read_text().strip().splitlines()
    assert rc == 2 and len(lines) == 1, lines
    assert lines[0] == (f"prunebench noise: error: {mnt / 'results'}: the folder is on a read-only file system, so "
                        "labels.npz cannot be written; make it writable (or run in a writable copy), then rerun")


def test_a_full_disk_while_saving_a_checkpoint_is_named(tmp_path):
    import torch

    with tmpfs(tmp_path / "ck", "16k") as mnt, pytest.raises(io.StorageError, match=r"step3\.pt: no space left"):
        io.torch_save(mnt / "checkpoints" / "step3.pt", {"w": torch.zeros(100_000)})


def test_other_write_errors_are_not_reworded(tmp_path):
    """Only refusals of the file system become a StorageError: an error of the writer itself stays as it is."""
    with pytest.raises(ValueError, match="Object arrays cannot be saved"):
        io.save_npy(tmp_path / "x.npy", np.array([object()]))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_tiny_run_on_a_full_disk_leaves_no_empty_log(tmp_path):
    """The probe as a user met it: the tiny run on an 8 MB tmpfs printed `Logfile …: empty file` for the
    failed job, the cause only in Snakemake's own "Error recording metadata … No space left on device".
    Each job reserves room in its log first, so its one-line error (or its progress lines) land there."""
    from conftest import make_workdir, run_snakemake

    with tmpfs(tmp_path / "disk", "8m") as mnt:
        wd = make_workdir(mnt)
        proc = run_snakemake(wd, check=False)
        out = proc.stdout + proc.stderr
        ours = [line for p in (wd / "results").rglob("*.log") for line in p.read_text().splitlines()
                if "no space left on the device while writing it" in line]
    assert proc.returncode != 0, out[-2000:]
    assert "empty file" not in out, out[-4000:]
    assert ours or "Error recording metadata" in out, out[-4000:]
    for line in ours:
        assert line.startswith("prunebench ") and "free in" in line and "nothing was written" in line, line

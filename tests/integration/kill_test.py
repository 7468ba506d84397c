#!/usr/bin/env python
"""Kill test: SIGKILL the tiny pipeline at random moments, rerun, and demand byte-identical results.

    python tests/integration/kill_test.py --trials 10 --seed 0

0. A snapshot of the code (``src/prunebench``, ``workflow/``, ``config/``, ``tests/data/tiny.yaml``)
   is taken first and every run uses it (``PYTHONPATH`` puts the snapshot ahead of the editable
   install), so edits to the tree during the test cannot change the outputs.
1. One uninterrupted reference run of the tiny config (``--cores 2``) in a fresh copy: its duration
   D, its number of jobs N, the sha256 of every contract file, and the temp files
   (``.tmp-prunebench-*``) seen while polling every 10 ms (the write windows).
2. N trials, each in its own fresh copy: start ``snakemake --cores 2 --configfile tiny.yaml`` in a new
   session and SIGKILL the whole process group (and any straggling descendant) at a seeded moment
   spread over the run: once k of the N jobs have finished (k stratified over 0..N-2, so the kills
   cover the whole DAG whatever the machine's load), plus a seeded delay of up to D/N. "Aimed"
   trials (about two in three) then keep polling and kill at the first sighting of the temp file of a
   long write (``LONG_WRITES``: figures, npz arrays, checkpoints), so that about half the kills land
   while a job is writing its output. What existed at kill time is read right
   after the kill, when nothing runs any more: temp files (an interrupted write) and Snakemake's
   incomplete-job markers (``.snakemake/incomplete``).
3. Rerun ``snakemake --cores 2 --configfile tiny.yaml --rerun-incomplete`` to completion (after
   ``--unlock`` when Snakemake refuses the stale lock of the killed run; recorded per trial).
4. Check: the same set of contract files as the reference, each with the same sha256, and no
   ``.tmp-prunebench-*`` file anywhere under data/ and results/.

Contract files: everything under ``data/`` and ``results/`` except logs, Snakemake benchmark files,
``*.timing.json`` sidecars and the cost rule's tables and figures (built from those timings).
Checkpoints (``*.pt``) are included: they are saved through a file object, so torch's archive
carries no temp-file name.

Exit status 0 when every trial recovers. ``tests/integration/test_interrupt.py`` runs 2 trials.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TMP_PREFIX = ".tmp-prunebench-"
#: outputs of the `cost` rule: computed from Snakemake benchmark files and timing sidecars, so they
#: carry wall-clock times and differ between any two runs by design
TIMING_DERIVED = {"tables/cost.csv", "tables/cost_raw.csv", "figures/scoring_cost.pdf", "figures/scoring_cost.png",
                  "figures/cost_vs_accuracy.pdf", "figures/cost_vs_accuracy.png"}
SKIP_DIRS = {".snakemake", "workflow", "config", "logs", "benchmarks"}
PROGRESS = re.compile(rb"(\d+) of (\d+) steps")


# --- files ---------------------------------------------------------------------------------------

def is_contract(rel: str) -> bool:
    """A final output that must be byte-identical across runs (not a log, benchmark, timing or .pt)."""
    parts = rel.split("/")
    if parts[0] not in ("data", "results") or "logs" in parts or "benchmarks" in parts:
        return False
    if "/".join(parts[-2:]) in TIMING_DERIVED:
        return False
    name = parts[-1]
    return not (name.endswith(".timing.json") or name.startswith(TMP_PREFIX))


def contract_hashes(workdir: Path) -> dict[str, str]:
    out = {}
    for top in ("data", "results"):
        for p in sorted((workdir / top).rglob("*")):
            rel = p.relative_to(workdir).as_posix()
            if p.is_file() and is_contract(rel):
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def temp_files(workdir: Path) -> list[str]:
    """Every ``.tmp-prunebench-*`` file under data/ and results/ (logs and benchmarks included)."""
    found = []
    for top in ("data", "results"):
        for dirpath, _dirs, filenames in os.walk(workdir / top):
            found += [os.path.join(dirpath, f) for f in filenames if f.startswith(TMP_PREFIX)]
    return sorted(os.path.relpath(f, workdir) for f in found)


#: the writes that last long enough to be caught mid-way (figures, npz arrays, checkpoints); a small
#: JSON or CSV is often renamed before a kill sent on its sighting lands
LONG_WRITES = (".png", ".pdf", ".npz", ".pt")


def _fast_temp_scan(workdir: Path, suffixes: tuple[str, ...] = LONG_WRITES) -> bool:
    """Cheaper than temp_files for tight polling: stops at the first temp file of a long write."""
    stack = [workdir / "data", workdir / "results"]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.name.startswith(TMP_PREFIX) and e.name.endswith(suffixes):
                        return True
                    if e.is_dir(follow_symlinks=False) and e.name not in SKIP_DIRS:
                        stack.append(Path(e.path))
        except FileNotFoundError:
            continue
    return False


def incomplete_markers(workdir: Path) -> int:
    """Outputs Snakemake has marked incomplete (their job started and did not finish)."""
    d = workdir / ".snakemake" / "incomplete"
    return sum(1 for p in d.rglob("*") if p.is_file()) if d.exists() else 0


def jobs_done(workdir: Path) -> tuple[int, int]:
    """(finished jobs, total jobs) from the last "k of N steps" line Snakemake printed (0, 0 before any)."""
    try:
        found = PROGRESS.findall((workdir / "snakemake.out").read_bytes())
    except FileNotFoundError:
        return 0, 0
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)


# --- the code snapshot and work folders ------------------------------------------------------

def take_snapshot(dst: Path) -> Path:
    """Freeze the package, the workflow, the configs and the tiny config under ``dst``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake")
    shutil.copytree(ROOT / "src" / "prunebench", dst / "src" / "prunebench", ignore=ignore)
    for d in ("workflow", "config"):
        shutil.copytree(ROOT / d, dst / d, ignore=ignore)
    shutil.copy(ROOT / "tests" / "data" / "tiny.yaml", dst / "tiny.yaml")
    return dst


def fresh_copy(dst: Path, snap: Path) -> Path:
    """A work folder: workflow/, config/ and tiny.yaml from the snapshot, nothing else."""
    dst.mkdir(parents=True, exist_ok=False)
    for d in ("workflow", "config"):
        shutil.copytree(snap / d, dst / d)
    shutil.copy(snap / "tiny.yaml", dst / "tiny.yaml")
    return dst


# --- processes -------------------------------------------------------------------------------

def snakemake_bin() -> str:
    exe = Path(sys.executable).parent / "snakemake"
    return str(exe) if exe.exists() else "snakemake"


def _env(snap: Path) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(snap / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def snakemake_cmd(*args: str, configfile: str = "tiny.yaml", cores: int = 2) -> list[str]:
    """Targets/flags first: ``--configfile`` takes several values and is added last."""
    return [snakemake_bin(), *args, "--cores", str(cores), "--configfile", configfile]


def start(workdir: Path, snap: Path, *args: str, cores: int = 2) -> subprocess.Popen:
    with open(workdir / "snakemake.out", "ab") as log:
        return subprocess.Popen(snakemake_cmd(*args, cores=cores), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                env=_env(snap), start_new_session=True)


def run(workdir: Path, snap: Path, *args: str, cores: int = 2, timeout: int = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(*args, cores=cores), cwd=workdir, capture_output=True, text=True,
                          env=_env(snap), timeout=timeout)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, stack = [], [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_all(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of ``proc`` and any descendant that left it; reap ``proc``."""
    stray = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in stray:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in stray):
        time.sleep(0.02)


# --- reference and trials --------------------------------------------------------------------

@dataclass
class Reference:
    workdir: Path
    snapshot: Path
    seconds: float
    jobs: int
    hashes: dict[str, str]
    writes_seen: list[tuple[float, str]] = field(default_factory=list)


def run_reference(root: Path, snap: Path, cores: int = 2, poll: float = 0.01) -> Reference:
    """The uninterrupted run; polls for temp files to record when outputs are being written."""
    wd = fresh_copy(root / "reference", snap)
    t0 = time.monotonic()
    proc = start(wd, snap, cores=cores)
    seen: dict[str, float] = {}
    while proc.poll() is None:
        for f in temp_files(wd):
            seen.setdefault(f, time.monotonic() - t0)
        time.sleep(poll)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"reference run failed ({proc.returncode}); see {wd / 'snakemake.out'}")
    left = temp_files(wd)
    if left:
        raise RuntimeError(f"reference run left temp files: {left}")
    done, total = jobs_done(wd)
    if not total or done != total:
        raise RuntimeError(f"reference run: no 'N of N steps' line in {wd / 'snakemake.out'}")
    return Reference(wd, snap, seconds, total, contract_hashes(wd), sorted((t, f) for f, t in seen.items()))


def plan_trials(n: int, seed: int, jobs: int) -> list[dict]:
    """Seeded kill moments: after ``after_jobs`` finished jobs (stratified over 0..jobs-1) plus
    ``delay`` (a fraction of one mean job duration); about two in three trials are aimed."""
    rng = np.random.default_rng(seed)
    slots = rng.permutation(n)
    frac = (slots + rng.uniform(size=n)) / n
    delay = rng.uniform(size=n)
    blind = set(rng.choice(n, size=n // 3, replace=False).tolist()) if n >= 3 else set()
    # the last job is the `all` target (no work): kills land after 0..jobs-2 finished jobs
    return [{"trial": i, "after_jobs": int(frac[i] * (jobs - 1)), "delay": float(delay[i]), "aimed": i not in blind}
            for i in range(n)]


def run_trial(ref: Reference, root: Path, trial: int, after_jobs: int, delay: float, aimed: bool, cores: int = 2,
              aim_window: float | None = None, keep: bool = False) -> dict:
    snap = ref.snapshot
    wd = fresh_copy(root / f"trial{trial:02d}", snap)
    job_s = ref.seconds / ref.jobs
    aim_window = aim_window if aim_window is not None else max(3 * job_s, 15.0)
    t0 = time.monotonic()
    proc = start(wd, snap, cores=cores)
    while proc.poll() is None and jobs_done(wd)[0] < after_jobs:
        time.sleep(0.05)
    t_k = time.monotonic()
    while proc.poll() is None and time.monotonic() - t_k < delay * job_s:
        time.sleep(0.05)
    trigger = "time"
    if aimed:
        trigger = "timeout"
        t_a = time.monotonic()
        while proc.poll() is None and time.monotonic() - t_a < aim_window:
            if _fast_temp_scan(wd):
                trigger = "temp"
                break
            time.sleep(0.002)
    finished_first = proc.poll() is not None
    killed_at = time.monotonic() - t0
    jobs_at_kill = jobs_done(wd)[0]
    kill_all(proc)
    tmp_at_kill = temp_files(wd)
    incomplete = incomplete_markers(wd)

    t1 = time.monotonic()
    rerun = run(wd, snap, "--rerun-incomplete", cores=cores)
    unlocked = False
    if rerun.returncode != 0 and "cannot be locked" in (rerun.stdout + rerun.stderr):
        unlocked = True
        run(wd, snap, "--unlock", cores=cores)
        rerun = run(wd, snap, "--rerun-incomplete", cores=cores)
    rerun_s = time.monotonic() - t1
    hashes = contract_hashes(wd)
    differ = sorted(f for f in ref.hashes if f in hashes and hashes[f] != ref.hashes[f])
    missing = sorted(set(ref.hashes) - set(hashes))
    extra = sorted(set(hashes) - set(ref.hashes))
    stray = temp_files(wd)
    ok = rerun.returncode == 0 and not differ and not missing and not extra and not stray
    if ok and not keep:
        shutil.rmtree(wd, ignore_errors=True)
    elif rerun.returncode != 0:
        (wd / "rerun.out").write_text(rerun.stdout + rerun.stderr)
    return {"trial": trial, "aimed": aimed, "trigger": trigger, "kill_s": round(killed_at, 1),
            "jobs_done": jobs_at_kill, "jobs": ref.jobs, "finished_before_kill": finished_first,
            "tmp_at_kill": tmp_at_kill, "incomplete_jobs": incomplete, "unlock_needed": unlocked,
            "rerun_rc": rerun.returncode, "rerun_s": round(rerun_s, 1),
            "identical": len(ref.hashes) - len(differ) - len(missing), "total": len(ref.hashes),
            "differ": differ, "missing": missing, "extra": extra, "stray_tmp": stray, "ok": ok, "workdir": str(wd)}


def kill_trials(n: int, seed: int, root: Path | None = None, cores: int = 2, keep: bool = False,
                log=print, snapshot: Path | None = None, ref: Reference | None = None) -> tuple[Reference, list[dict]]:
    """Reference + ``n`` trials; ``snapshot``: an existing code snapshot (see take_snapshot) to test
    instead of the current tree (e.g. a patched copy); ``ref``: an uninterrupted reference run already
    made (its snapshot is used)."""
    root = Path(root or tempfile.mkdtemp(prefix="prunebench-kill-"))
    root.mkdir(parents=True, exist_ok=True)
    if ref is None:
        snap = Path(snapshot).resolve() if snapshot else take_snapshot(root / "snapshot")
        ref = run_reference(root, snap, cores=cores)
    log(f"reference: {ref.seconds:.1f} s, {ref.jobs} jobs, {len(ref.hashes)} contract files, "
        f"{len(ref.writes_seen)} temp files seen while polling every 10 ms (work folder {root})")
    log(HEADER)
    results = []
    for p in plan_trials(n, seed, ref.jobs):
        r = run_trial(ref, root, p["trial"], p["after_jobs"], p["delay"], p["aimed"], cores=cores, keep=keep)
        results.append(r)
        log(format_row(r))
    if not keep and all(r["ok"] for r in results):
        shutil.rmtree(root, ignore_errors=True)
    return ref, results


# --- report ----------------------------------------------------------------------------------

HEADER = (f"{'trial':>5} {'aimed':>5} {'trigger':>7} {'kill_s':>7} {'jobs':>7} {'tmp@kill':>8} {'incompl':>7} "
          f"{'unlock':>6} {'rerun_s':>7} {'identical':>9} {'stray':>5}  ok    interrupted write")


def format_row(r: dict) -> str:
    tmp = r["tmp_at_kill"]
    what = (os.path.dirname(tmp[0]).split("/", 3)[-1] + "/" + os.path.basename(tmp[0])[:19] + "…") if tmp else "-"
    if r["finished_before_kill"]:
        what = "(pipeline finished before the kill)"
    jobs = f"{r['jobs_done']}/{r['jobs']}"
    return (f"{r['trial']:>5} {str(r['aimed']):>5} {r['trigger']:>7} {r['kill_s']:>7.1f} {jobs:>7} "
            f"{len(tmp):>8} {r['incomplete_jobs']:>7} {str(r['unlock_needed']):>6} {r['rerun_s']:>7.1f} "
            f"{r['identical']:>4}/{r['total']:<4} {len(r['stray_tmp']):>5}  {'OK  ' if r['ok'] else 'FAIL'}  {what}")


def summary(ref: Reference, results: list[dict]) -> str:
    n = len(results)
    during_write = sum(bool(r["tmp_at_kill"]) for r in results)
    incomplete = sum(r["incomplete_jobs"] > 0 for r in results)
    unlock = sum(r["unlock_needed"] for r in results)
    identical = sum(r["rerun_rc"] == 0 and not (r["differ"] or r["missing"] or r["extra"]) for r in results)
    stray = sum(bool(r["stray_tmp"]) for r in results)
    ok = sum(r["ok"] for r in results)
    return (f"SUMMARY: {n} trials (reference {ref.seconds:.0f} s, {ref.jobs} jobs, {len(ref.hashes)} contract "
            f"files): {during_write}/{n} kills landed during a write (temp file present), {incomplete}/{n} with an "
            f"incomplete job; {unlock}/{n} reruns needed --unlock; {identical}/{n} recovered byte-identical; "
            f"{stray}/{n} left stray temp files; {ok}/{n} passed")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--root", default=None, help="work folder (default: a new temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folders of passing trials")
    ap.add_argument("--snapshot", default=None,
                    help="test this code snapshot (src/prunebench, workflow/, config/, tiny.yaml) instead of the tree")
    a = ap.parse_args(argv)
    ref, results = kill_trials(a.trials, a.seed, a.root, a.cores, a.keep, log=lambda s: print(s, flush=True),
                               snapshot=a.snapshot)
    for r in results:
        for key in ("differ", "missing", "extra", "stray_tmp"):
            if r[key]:
                print(f"trial {r['trial']} {key}: {r[key][:8]}{' ...' if len(r[key]) > 8 else ''}")
        if not r["ok"]:
            print(f"trial {r['trial']}: work folder kept at {r['workdir']}")
    print(summary(ref, results), flush=True)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

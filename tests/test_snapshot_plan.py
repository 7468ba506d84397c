"""The snapshot equals the plan: `snakemake snapshot` / `prunebench snapshot` version the files of the current
plan (Snakemake's dry run) under results/{exp}; files of a removed scorer or sweep are stale: left out of what
DVC tracks (results/{exp}/.dvcignore), listed with an `rm` line, never deleted. Real DVC throughout; the runs
reuse the tiny DAG of the default selection (the `reference` fixture, tests/conftest.py) through a copy."""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from prunebench import dryrun
from prunebench import snapshot as snap

# DVC 3.67 itself triggers a DeprecationWarning (pygtrie) on every call
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:dvc.*")

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_NOSYSTEM": "1"}


def _run(cmd, cwd, env=None, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **GIT_ENV, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _dvc_env(tmp: Path) -> dict:
    """DVC kept off the user's global/system config and site cache."""
    return {"DVC_GLOBAL_CONFIG_DIR": str(tmp / "dvc-home" / "g"), "DVC_SYSTEM_CONFIG_DIR": str(tmp / "dvc-home" / "s"),
            "DVC_SITE_CACHE_DIR": str(tmp / "dvc-home" / "c")}


def _git_dvc_repo(wd: Path) -> None:
    """A git repository with the repository's DVC settings (as tests/test_dvc.py sets one up)."""
    _run(["git", "-c", "init.defaultBranch=main", "init", "-q"], wd)
    (wd / ".dvc").mkdir()
    for f in (".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / f, wd / f)


def tracked_files(wd: Path, exp: str) -> set[str]:
    """Every file the ``.dvc`` files under results/{exp} hold, read from DVC's cache (a folder's manifest)."""
    out = set()
    for f in sorted((wd / "results" / exp).rglob("*.dvc")):
        o = yaml.safe_load(f.read_text())["outs"][0]
        base = f.with_suffix("").relative_to(wd).as_posix()
        if o["md5"].endswith(".dir"):
            manifest = wd / ".dvc" / "cache" / "files" / "md5" / o["md5"][:2] / o["md5"][2:]
            out.update(f"{base}/{e['relpath']}" for e in json.loads(manifest.read_text()))
        else:
            out.add(base)
    return out


def _touch(root: Path, *files: str) -> None:
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text(f)


# --- the selection, on a fabricated tree --------------------------------------------------------------

R = "results/x/d/clean"
PLAN = [f"{R}/labels.npz", f"{R}/scores/a/el2n/seed0.csv", f"{R}/scores/a/el2n/seed0.meta.json",
        f"{R}/subsets/a/el2n/keep/r0.50/seed0.npy", f"{R}/surrogate/a/seed0/surrogate.json",
        f"{R}/surrogate/a/adam/seed0",  # a directory output
        f"{R}/scores/a/opt/seed0.csv", "results/x/tables/retrain.csv", "results/x/figures/acc.pdf",
        "results/x/benchmarks/scores/d/clean/a/el2n.tsv", "results/x/logs/scores/el2n.log", "data/d/train.npz"]
STALE = [f"{R}/scores/a/dynunc/seed0.csv", f"{R}/scores/a/dynunc/seed0.meta.json",
         f"{R}/scores/a/el2n/seed1.csv",  # a seed no longer asked for: beside the plan's files, not theirs
         f"{R}/subsets/a/el2n/keep/r0.30/seed0.npy", "results/x/tables/budget.csv",
         "results/x/benchmarks/scores/d/clean/a/dynunc.tsv",
         "results/x/d/sym20/labels.npz", "results/x/d/sym20/scores/a/el2n/seed0.csv"]
EXTRA_PLAN = [f"{R}/scores/a/opt/seed0.solver.timing.json",  # an undeclared sidecar of a declared file
              f"{R}/surrogate/a/seed0/checkpoints/step4.pt",  # written into the surrogate's run folder
              f"{R}/surrogate/a/adam/seed0/part0/model.pt"]  # inside a directory output


def _tree(root: Path, bookkeeping: bool = True) -> None:
    """The fabricated run; ``bookkeeping``: also a log, a temp file and the files DVC writes (fake ones)."""
    _touch(root, *[p for p in PLAN if not p.endswith("adam/seed0")], *STALE, *EXTRA_PLAN)
    if bookkeeping:
        _touch(root, "results/x/logs/old/dynunc.log", f"{R}/.gitignore", f"{R}/scores.dvc",
               f"{R}/scores/a/dynunc/.tmp-prunebench-1@h~x.csv")


def test_select_splits_the_tree_into_the_plans_files_and_the_stale_ones(tmp_path):
    _tree(tmp_path)
    sel = snap.select("x", PLAN, tmp_path)
    plan_here = {p for p in PLAN if p.startswith("results/x/") and "/logs/" not in p and not p.endswith("adam/seed0")}
    assert set(sel.files) == plan_here | set(EXTRA_PLAN)
    assert sorted(sel.stale) == sorted(STALE)  # logs, hidden and .dvc files are neither
    # wholly stale folders are named as folders, the rest file by file
    assert sel.groups == sorted([
        "results/x/benchmarks/scores/d/clean/a/dynunc.tsv", f"{R}/scores/a/dynunc/", f"{R}/scores/a/el2n/seed1.csv",
        f"{R}/subsets/a/el2n/keep/r0.30/", "results/x/d/sym20/", "results/x/tables/budget.csv"])
    # the sym20 setting has no file of the plan left: its stage folders are no DVC unit any more
    assert set(sel.dropped) == {"results/x/d/sym20/labels.npz", "results/x/d/sym20/scores"}
    assert f"{R}/scores" in sel.units and "results/x/tables" in sel.units
    # the ignore file anchors each entry to results/x/; the rm line deletes exactly the stale files
    lines = snap.ignore_text(sel).splitlines()
    assert "/d/clean/scores/a/dynunc/" in lines and "/tables/budget.csv" in lines and "/d/sym20/" in lines
    rm = shlex.split(snap.delete_command(sel))
    assert rm[:3] == ["rm", "-r", "--"]
    _run(rm, tmp_path)
    left = set(snap.experiment_files("x", tmp_path))
    assert left == set(sel.files) and not any((tmp_path / p).exists() for p in STALE)


def test_stale_option_lists_what_the_rm_line_deletes_and_changes_nothing(tmp_path, capsys, monkeypatch):
    _tree(tmp_path)
    monkeypatch.setattr(snap, "plan_of", lambda *a, **k: PLAN)
    before = sorted(p for p in tmp_path.rglob("*"))
    assert snap.main(["--exp", "x", "--repo", str(tmp_path), "--stale"]) == 0
    listing = capsys.readouterr().out.splitlines()
    sel = snap.select("x", PLAN, tmp_path)
    assert listing == shlex.split(snap.delete_command(sel))[3:] == [g.rstrip("/") for g in sel.groups]
    assert sorted(p for p in tmp_path.rglob("*")) == before  # no ignore file, no DVC


def test_select_keeps_a_report_only_when_it_is_newer_than_the_plans_tables_and_figures(tmp_path):
    _tree(tmp_path)
    _touch(tmp_path, "results/x/report.html")
    table = tmp_path / "results/x/tables/retrain.csv"
    os.utime(tmp_path / "results/x/report.html", (table.stat().st_mtime + 10,) * 2)
    assert "results/x/report.html" in snap.select("x", PLAN, tmp_path).files
    os.utime(table, (table.stat().st_mtime + 20,) * 2)  # a table rebuilt after the report
    assert "results/x/report.html" in snap.select("x", PLAN, tmp_path).stale


def test_select_refuses_the_plan_of_another_experiment(tmp_path):
    _tree(tmp_path)
    with pytest.raises(ValueError, match=r"nothing under results/x/ \(it writes results/default/\)"):
        snap.select("x", ["results/default/tables/retrain.csv"], tmp_path)


def test_dry_run_jobs_are_parsed_with_their_files():
    text = """Building DAG of jobs...
[Mon Dec  7 22:57:19 2026]
rule score:
    input: data/d/train.npz, results/x/d/clean/labels.npz
    output: results/x/d/clean/scores/a/el2n/seed0.csv, results/x/d/clean/scores/a/el2n/seed0.meta.json
    log: results/x/logs/scores/d/clean/a/el2n.log
    jobid: 7
    benchmark: results/x/benchmarks/scores/d/clean/a/el2n.tsv
    reason: Missing output files: results/x/d/clean/scores/a/el2n/seed0.csv
    wildcards: exp=x, dataset=d
    resources: tmpdir=/tmp
[Mon Dec  7 22:57:19 2026]
localrule all:
    input: results/x/tables/retrain.csv
    jobid: 0
Job stats:
"""
    jobs = dryrun.parse(text)
    assert [j.rule for j in jobs] == ["score", "all"]
    assert jobs[0].products() == ["results/x/d/clean/scores/a/el2n/seed0.csv",
                                  "results/x/d/clean/scores/a/el2n/seed0.meta.json",
                                  "results/x/benchmarks/scores/d/clean/a/el2n.tsv",
                                  "results/x/logs/scores/d/clean/a/el2n.log"]
    assert jobs[0].reason.startswith("Missing output files") and jobs[1].products() == []


def test_dvc_tracks_only_the_plan_and_the_stale_files_stay(tmp_path, capsys, monkeypatch):
    """Real DVC on the fabricated tree: a first snapshot with a plan that has the sym20 setting and dynunc,
    a second with a plan without them: the .dvc files hold exactly the second plan's files, the stale files
    are listed with the rm line and stay on disk, the sym20 pointers are dropped, `dvc status` is clean."""
    from dvc.repo import Repo

    for k, v in _dvc_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    wd = tmp_path / "repo"
    wd.mkdir()
    _git_dvc_repo(wd)
    _tree(wd, bookkeeping=False)
    everything = PLAN + STALE
    assert snap.snapshot("x", wd, plan=everything, data=False)
    assert f"{R}/scores/a/dynunc/seed0.csv" in tracked_files(wd, "x")
    assert (wd / "results/x/d/sym20/scores.dvc").is_file()
    assert not (wd / "results/x/.dvcignore").exists()  # nothing stale: no ignore file
    capsys.readouterr()

    units = snap.snapshot("x", wd, plan=PLAN, data=False)
    out = capsys.readouterr().out
    assert tracked_files(wd, "x") == set(snap.select("x", PLAN, wd).files)
    assert not any(p in tracked_files(wd, "x") for p in STALE)
    assert all((wd / p).is_file() for p in STALE)  # listed, never deleted
    assert f"stale: {len(STALE)} files under results/x/" in out and f"  {R}/scores/a/dynunc/  (2 files)" in out
    assert "rm -r -- " in out and f"{R}/scores/a/dynunc" in out.split("rm -r -- ")[1]
    # the sym20 setting's pointers are gone (its files are not); DVC sees nothing to do
    assert "results/x/d/sym20/scores" not in units and not (wd / "results/x/d/sym20/scores.dvc").exists()
    assert (wd / "results/x/d/sym20/scores/a/el2n/seed0.csv").is_file()
    assert "removed results/x/d/sym20/scores.dvc" in out
    with Repo(str(wd)) as repo:
        assert repo.status() == {}
    # the stale files change: DVC does not see it (they are ignored), the plan's files change: it does
    (wd / STALE[0]).write_text("changed")
    with Repo(str(wd)) as repo:
        assert repo.status() == {}
    (wd / f"{R}/scores/a/el2n/seed0.csv").write_text("changed")
    with Repo(str(wd)) as repo:
        assert [k.endswith(f"{R}/scores.dvc") for k in repo.status()] == [True]


# --- on the tiny run: a scorer removed from the config --------------------------------------------------

NODYN = "scorers: {dynunc: null}\n"  # dynunc (and its uniform-protocol twin, dynunc-uniform) removed


def _ref_copy(reference, dst: Path) -> Path:
    """A copy of the finished tiny run (times kept: nothing is pending) in a git repository with DVC."""
    shutil.copytree(reference.workdir, dst, symlinks=True)
    _git_dvc_repo(dst)
    (dst / "nodyn.yaml").write_text(NODYN)
    return dst


def _ref_env(reference, tmp: Path) -> dict:
    """The reference run's code snapshot (as tests/test_bad_inputs.py runs it) and an isolated DVC."""
    from kill_test import _env

    return {**_env(reference.snapshot), **_dvc_env(tmp)}


def _dynunc_files(wd: Path) -> list[str]:
    return sorted(p.relative_to(wd).as_posix() for p in (wd / "results" / "tiny").rglob("*")
                  if p.is_file() and "dynunc" in p.relative_to(wd).as_posix() and "/logs/" not in p.as_posix())


def test_snapshot_leaves_a_removed_scorers_files_out_and_lists_them(reference, tmp_path):
    wd = _ref_copy(reference, tmp_path / "repo")
    env = _ref_env(reference, tmp_path)
    dyn = _dynunc_files(wd)
    assert len(dyn) >= 24  # scores (csv, meta, timing), subsets, retrain results, benchmarks of both
    cmd = [sys.executable, "-m", "prunebench.snapshot", "--exp", "tiny", "--no-data",
           "--configfile", "tiny.yaml", "nodyn.yaml"]
    out = _run(cmd, wd, env).stdout
    tracked = tracked_files(wd, "tiny")
    assert not [p for p in tracked if "dynunc" in p]
    assert "results/tiny/digits/clean/scores/cnn_small/el2n/seed0.csv" in tracked
    assert all((wd / p).is_file() for p in dyn)  # not deleted
    assert f"stale: {len(dyn)} files under results/tiny/" in out
    assert _run(["dvc", "status", "--json"], wd, env).stdout.strip() == "{}"
    # the printed rm line names exactly the dynunc folders and files
    rm = shlex.split(out.split("\n  rm -r -- ", 1)[1].splitlines()[0])
    assert all("dynunc" in p for p in rm)
    _run(["rm", "-r", "--", *rm], wd)
    # everything tracked is still there (with Snakemake's .snakemake_timestamp in each directory output)
    assert _dynunc_files(wd) == [] and all((wd / p).is_file() for p in tracked)


@pytest.mark.slow
def test_snakemake_snapshot_after_removing_a_scorer(reference, tmp_path):
    """The rule itself: `snakemake snapshot` with the scorer removed reruns the tables, then versions the
    plan's files only; the stale list is on the terminal and in the rule's log."""
    wd = _ref_copy(reference, tmp_path / "repo")
    env = _ref_env(reference, tmp_path)
    smk = [str(Path(sys.executable).parent / "snakemake"), "--cores", "2"]
    out = _run([*smk, "snapshot", "--configfile", "tiny.yaml", "nodyn.yaml"], wd, env).stdout
    log = (wd / "results/tiny/logs/snapshot.log").read_text()
    for text in (out, log):
        assert "results/tiny/digits/clean/scores/cnn_small/dynunc/  (6 files)" in text and "rm -r -- " in text
    assert not [p for p in tracked_files(wd, "tiny") if "dynunc" in p]
    assert (wd / "results/tiny/digits/clean/scores/cnn_small/dynunc/seed0.csv").is_file()
    table = (wd / "results/tiny/tables/retrain.csv").read_text()
    assert ",dynunc," not in table and ",el2n," in table  # the tables were rebuilt first
    assert _run(["dvc", "status", "--json"], wd, env).stdout.strip() == "{}"
    dry = _run([*smk, "-n", "--configfile", "tiny.yaml", "nodyn.yaml"], wd, env)
    assert "Nothing to be done" in dry.stdout + dry.stderr

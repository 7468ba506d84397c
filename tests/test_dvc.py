"""DVC versioning, for real: a temp git repo with the repo's DVC settings and a temp local remote,
the tiny pipeline, `snakemake snapshot`, push; a fresh clone pulls every file back byte-identical
(sha256) and Snakemake has nothing to do; after a second run with another ratio grid,
`git checkout <first> && dvc checkout` restores the first version exactly."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TINY, make_workdir, run_snakemake

from prunebench import snapshot as snap

# DVC 3.67 itself triggers a DeprecationWarning (pygtrie) on every call
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:dvc.*")]

DVC = str(Path(sys.executable).parent / "dvc")
EXP = "tiny"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_NOSYSTEM": "1"}


def _run(cmd, cwd, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **GIT_ENV})
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def git(wd, *args):
    return _run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args], wd).stdout.strip()


def dvc(wd, *args, check=True):
    return _run([DVC, *args], wd, check=check)


def hashes(wd: Path) -> dict[str, str]:
    """sha256 of every file under data/ and results/ except the unversioned logs (and data/benchmarks,
    which .dvcignore leaves out)."""
    out = {}
    for top in ("data", "results"):
        for p in sorted((wd / top).rglob("*")):
            rel = p.relative_to(wd).as_posix()
            if p.is_file() and "/logs/" not in f"/{rel}" and not rel.startswith("data/benchmarks/"):
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def write_config(wd: Path, ratios) -> None:
    """The tests' tiny config with a given ratio grid, cut to one seed and two scorers (random, and el2n,
    which needs a surrogate) to keep the two runs short."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["ratios"] = list(ratios)
    cfg["seeds"] = 1
    cfg["scorers"] = {"random": {}, "el2n": cfg["scorers"]["el2n"]}
    cfg["replace"] = ["scorers"]  # these two alone, not the default's scorers
    cfg["sweeps"] = {"main": cfg["sweeps"]["main"]}
    (wd / "tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def nothing_to_do(wd: Path) -> str:
    """`snakemake --touch` (restores modification times in DAG order, see docs/guides/dvc.md), then `snakemake -n`."""
    run_snakemake(wd, "--touch")
    out = run_snakemake(wd, "-n")
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git repo with the repo's DVC settings and a temp remote, after the tiny run, a snapshot and a push."""
    tmp = tmp_path_factory.mktemp("dvc")
    wd = make_workdir(tmp / "repo")
    remote = tmp / "remote" / "not-yet-created"
    with pytest.MonkeyPatch.context() as mp:
        # keep DVC off the user's global/system config and site cache
        for var, sub in (("DVC_GLOBAL_CONFIG_DIR", "g"), ("DVC_SYSTEM_CONFIG_DIR", "s"), ("DVC_SITE_CACHE_DIR", "c")):
            mp.setenv(var, str(tmp / "dvc-home" / sub))
        git(wd, "init", "-q")
        (wd / ".dvc").mkdir()
        for f in (".dvc/config", ".dvc/.gitignore", ".dvcignore", "data.dvc", ".gitignore"):
            shutil.copy(ROOT / f, wd / f)
        dvc(wd, "remote", "add", "--default", "--force", "local", str(remote))
        snakefile = wd / "workflow" / "Snakefile"
        if "rules/dvc.smk" not in snakefile.read_text():  # until the Snakefile includes it
            snakefile.write_text(snakefile.read_text() + '\n\ninclude: "rules/dvc.smk"\n')
        write_config(wd, [0.5])
        run_snakemake(wd)
        # the pipeline's fetch reproduces the repository's data.dvc: DVC sees no change in data/
        # (`dvc status` only says "not in cache" before the first `dvc add`/`dvc commit`)
        st = json.loads(dvc(wd, "data", "status", "--json").stdout)
        assert "data/" in st["not_in_cache"] and "data/" not in st.get("uncommitted", {}).get("modified", [])
        run_snakemake(wd, "snapshot")
        assert (wd / "data.dvc").read_bytes() == (ROOT / "data.dvc").read_bytes()
        assert not remote.exists()
        # a no-op add, then the push
        assert snap.main(["--exp", EXP, "--repo", str(wd), "--configfile", str(wd / "tiny.yaml"), "--push"]) == 0
        assert remote.is_dir()
        git(wd, "add", "-A")
        git(wd, "commit", "-qm", "run A")
        yield wd, remote, hashes(wd), git(wd, "rev-parse", "HEAD")


def test_snapshot_layout_and_clean_status(repo):
    wd, _, before, _ = repo
    res = f"results/{EXP}"
    expected = {"data", f"{res}/tables", f"{res}/figures", f"{res}/benchmarks",
                *(f"{res}/digits/clean/{g}" for g in ("labels.npz", "surrogate", "scores", "subsets", "retrain"))}
    tracked = set(snap.tracked_paths(EXP, wd)) | {"data"}
    assert expected <= tracked and not any("logs" in p for p in tracked)
    for p in tracked:
        assert (wd / f"{p}.dvc").is_file(), p
    assert dvc(wd, "status", "--json").stdout.strip() == "{}"
    # DVC wrote its own ignore entries; git sees the .dvc files, not the data; the workspace files stay
    # ordinary writable files (cache.type = copy)
    assert "/scores" in (wd / res / "digits/clean/.gitignore").read_text().split()
    assert git(wd, "status", "--porcelain") == ""
    assert not git(wd, "ls-files", f"{res}/digits/clean/scores", f"{res}/tables", "data/digits")
    score = wd / res / "digits/clean/scores/cnn_small/el2n/seed0.csv"
    assert not score.is_symlink() and os.access(score, os.W_OK) and score.stat().st_nlink == 1
    assert any(k.startswith(f"{res}/digits/clean/scores/") for k in before)


def test_pull_into_fresh_clone_is_byte_identical(repo, tmp_path):
    wd, _, before, _ = repo
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(wd), str(clone))
    assert not (clone / "results" / EXP / "tables").exists() and not (clone / ".dvc" / "cache").exists()
    dvc(clone, "pull")
    assert hashes(clone) == before
    assert dvc(clone, "status", "--json").stdout.strip() == "{}"
    assert "Nothing to be done" in nothing_to_do(clone)
    assert hashes(clone) == before  # --touch changed times, not bytes


def test_version_round_trip(repo):
    wd, _, first, rev_a = repo
    write_config(wd, [0.3])
    run_snakemake(wd)
    assert snap.snapshot(EXP, wd, configfiles=[str(wd / "tiny.yaml")])
    assert dvc(wd, "status", "--json").stdout.strip() == "{}"
    second = hashes(wd)
    # the r0.50 subsets and results of run A are not run B's: left out of its snapshot, still on disk
    ignored = (wd / "results" / EXP / ".dvcignore").read_text().split()
    assert any("/r0.50/" in line for line in ignored) and any("/r0.50/" in k for k in second)
    git(wd, "add", "-A")
    git(wd, "commit", "-qm", "run B: ratio grid 0.3")
    # the second run changed tables and figures and added r0.30 subsets; the scores are the same
    changed = {k for k in first if k in second and first[k] != second[k]}
    assert f"results/{EXP}/tables/retrain.csv" in changed
    assert any(k.startswith(f"results/{EXP}/figures/") for k in changed)
    assert any("/r0.30/" in k for k in second) and not any("/r0.30/" in k for k in first)
    assert all(second[k] == v for k, v in first.items() if "/scores/" in k and k.endswith(".csv"))

    git(wd, "checkout", "-q", rev_a)
    dvc(wd, "checkout")
    assert hashes(wd) == first  # scores, subsets, tables, figures exactly; the r0.30 files are gone
    assert "Nothing to be done" in nothing_to_do(wd)
    assert dvc(wd, "status", "--json").stdout.strip() == "{}"

    git(wd, "checkout", "-q", "main")
    dvc(wd, "checkout")
    assert hashes(wd) == second


def test_tracked_paths_groups_stages(tmp_path):
    """One unit per stage folder; logs, hidden files and .dvc files never; unknown extras as one unit each."""
    exp = tmp_path / "results" / "x"
    for f in ("d/clean/labels.npz", "d/clean/scores/a/seed0.csv", "d/clean/subsets/a/k/r0.50/seed0.npy",
              "d/sym20/labels.npz", "d/sym20/retrain/a/s.json", "tables/t.csv", "figures/f.png", "report.html",
              "logs/x.log", "benchmarks/b.tsv", "studies/s.csv", "d/clean/.gitignore", "tables.dvc",
              "e/clean/scores/a/seed0.csv"):
        (exp / f).parent.mkdir(parents=True, exist_ok=True)
        (exp / f).write_text("x")
    assert snap.tracked_paths("x", tmp_path) == [
        "results/x/benchmarks", "results/x/d/clean/labels.npz", "results/x/d/clean/scores",
        "results/x/d/clean/subsets", "results/x/d/sym20/labels.npz", "results/x/d/sym20/retrain",
        "results/x/e/clean/scores", "results/x/figures", "results/x/report.html", "results/x/studies", "results/x/tables"]
    with pytest.raises(FileNotFoundError):
        snap.tracked_paths("missing", tmp_path)


def test_repo_dvc_settings():
    """The repository's .dvc/config: a local-directory default remote, copies (no links), no autostage/analytics."""
    conf = dict(line.split("=", 1) for line in dvc(ROOT, "config", "--project", "--list").stdout.split())
    assert conf["cache.type"] == "copy" and conf["core.autostage"] == "false" and conf["core.analytics"] == "false"
    url = conf[f"remote.{conf['core.remote']}.url"]
    assert "://" not in url and Path(url).is_absolute()
    assert "/data" in (ROOT / ".gitignore").read_text().split()
    assert yaml.safe_load((ROOT / "data.dvc").read_text())["outs"][0]["path"] == "data"


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        snap.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--exp" in out and "--push" in out and "--remote" in out and "dvc checkout" in out

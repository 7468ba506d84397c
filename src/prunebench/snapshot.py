"""Version an experiment's outputs with DVC: ``prunebench snapshot`` / ``snakemake snapshot``.

A snapshot hands the outputs of the **current plan** under ``results/{exp}/`` (and the prepared
``data/``) to DVC (``dvc add``, optionally ``dvc push``) through DVC's own Python API: DVC does the
hashing, caching and transfer; nothing here hashes or copies files. Commit the ``.dvc`` files, the
``.gitignore`` entries DVC writes next to them and ``results/{exp}/.dvcignore`` with git;
``git checkout <rev> && dvc checkout`` (then ``snakemake --touch``, see docs/guides/dvc.md) brings that
version back.

The snapshot equals the plan
----------------------------
``results/{exp}/`` can hold files the current config no longer produces: a scorer, ratio, noise
setting or study removed from the config leaves its score files, subsets, retrain results, tables
and benchmark files behind (Snakemake never deletes them). They are **stale**: left out of the
snapshot, listed (printed, and in the rule's log), offered for deletion with a printed ``rm`` line,
and never deleted here. ``prunebench snapshot --exp EXP --stale`` prints only their paths.

What the plan is: Snakemake's own, ``snakemake --dry-run --forceall`` with the run's config files
(:func:`prunebench.dryrun.plan_files`): every output, benchmark and log file of every job, a
directory output standing for everything under it. A file of ``results/{exp}/`` belongs to the
plan (:func:`select`) when it is

1. such a file, or under such a directory;
2. a sidecar of one: same folder, same name up to the first dot (``seed0.solver.timing.json``
   next to ``seed0.csv``, written by the same job without being declared);
3. inside the run folder of a surrogate (:data:`OWNED`): the surrogate job writes its sampled
   ``checkpoints/stepK.pt`` there beside its declared outputs, and the scorers read them;
4. ``report.html`` (``snakemake --report``, which refuses stale outputs: prunebench.report_check),
   when it is not older than any table or figure of the plan; an older one shows outputs that
   have changed since and is stale like the rest.

Every other file is stale; ``logs/``, hidden files (``.gitignore``, temp files) and ``.dvc`` files are
neither. Why not ``plan.Files`` instead of the dry run: it lists the contract files, not every table,
figure, benchmark file and sidecar each rule writes, and any file missing from the list would be
called stale; the dry run is the DAG itself.

How DVC leaves the stale files out: the stage folders stay the DVC units (below), and the snapshot
writes ``results/{exp}/.dvcignore`` listing the stale files (a wholly stale folder as the folder),
anchored to that folder. DVC reads ``.dvcignore`` files in subfolders, so ``dvc add``, ``dvc status``
and ``dvc checkout`` skip them; the file is rewritten at every snapshot and committed with the
``.dvc`` files, so an older commit restores its own list with them. A stage folder with no file of
the plan left (a removed noise setting's ``scores``) is not added, and its ``.dvc`` file from an
earlier snapshot is dropped with ``dvc remove`` (the pointer only: the files stay where they are, and
git history keeps the pointer). Why not one ``.dvc`` file per file: thousands of pointer files and
as many ``dvc add`` stages; why not move the stale files aside: a snapshot must not touch outputs.

Layout: one ``.dvc`` file per pipeline stage folder, next to it.

- ``data.dvc`` for ``data/`` (every prepared dataset; ``data/logs`` and
  ``data/benchmarks`` are excluded by ``.dvcignore``).
- ``results/{exp}/{dataset}/{noise}/{labels.npz, surrogate, scores, subsets,
  retrain, ...}.dvc``: one per child of each noise folder.
- ``results/{exp}/{tables, figures, report.html, benchmarks, ...}.dvc``: one
  per other child of the experiment folder.

Why per stage rather than one ``results.dvc``: ``git diff`` / ``dvc status``
name the stage that changed; a reader can ``dvc pull results/x/tables.dvc
results/x/figures.dvc`` without the surrogate checkpoints; and a rerun that
touches only tables and figures (a new ratio grid) leaves the score and
surrogate ``.dvc`` files byte-identical in git.

Everything in the DAG is tracked, not only the scores/subsets/retrain/tables/
figures the study reads: after ``dvc pull`` Snakemake must find every file a
rule would otherwise rebuild (a missing ``labels.npz`` or surrogate reruns all
downstream jobs). ``benchmarks/`` is tracked because the cost table and
figures take the benchmark files as inputs; ``logs/`` is not (Snakemake never
needs a log back, and logs hold timings and paths).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import paths

log = logging.getLogger(__name__)

#: children of ``results/{exp}`` (and of a noise folder) that are never versioned
UNVERSIONED = frozenset({"logs"})
#: what a ``results/{exp}/{dataset}/{noise}`` folder holds (the contract); any one marks a noise folder
STAGES = ("labels.npz", "surrogate", "scores", "subsets", "retrain")
#: folder templates (paths.TEMPLATES) that one job owns whole: every file under them belongs to that job
OWNED = ("surrogate",)
#: the HTML report ``snakemake --report results/{exp}/report.html`` writes
REPORT = "report.html"
#: the generated ignore file that keeps the stale files out of DVC
IGNORE_FILE = ".dvcignore"
IGNORE_HEADER = ("# Written by `prunebench snapshot` at every snapshot (do not edit): files under this folder that\n"
                 "# the plan of the last snapshot does not produce, left out of its .dvc files (docs/guides/dvc.md).\n")


def _skip(p: Path) -> bool:
    """Our bookkeeping files and temp files, never a pipeline output."""
    return p.name in UNVERSIONED or p.name.startswith(".") or p.suffix == ".dvc"


def _is_dataset_dir(p: Path) -> bool:
    """``results/{exp}/{dataset}``: a folder whose children are noise folders (holding stage folders)."""
    return p.is_dir() and any(
        (c / s).exists() for c in p.iterdir() if c.is_dir() for s in STAGES
    )


def tracked_paths(exp: str, repo_root: str | os.PathLike = ".") -> list[str]:
    """The DVC units of ``results/{exp}`` (posix paths relative to ``repo_root``), sorted.

    One unit per child of each ``{dataset}/{noise}`` folder and one per other
    child of ``results/{exp}``; ``logs`` and hidden files are left out.
    """
    root = Path(repo_root)
    exp_dir = root / "results" / exp
    if not exp_dir.is_dir():
        raise FileNotFoundError(f"{exp_dir} does not exist: run the pipeline for experiment {exp!r} first")
    units: list[Path] = []
    for child in sorted(exp_dir.iterdir()):
        if _skip(child):
            continue
        if _is_dataset_dir(child):
            for noise in sorted(c for c in child.iterdir() if c.is_dir() and not _skip(c)):
                units += [g for g in sorted(noise.iterdir()) if not _skip(g)]
        else:
            units.append(child)
    return [u.relative_to(root).as_posix() for u in units]


def experiment_files(exp: str, repo_root: str | os.PathLike = ".") -> list[str]:
    """Every file a snapshot considers under ``results/{exp}``: all but ``logs/``, hidden files and
    folders (``.gitignore``, ``.dvcignore``, temp files) and ``.dvc`` files. Posix, relative to the root."""
    root = Path(repo_root)
    exp_dir = root / "results" / exp
    out = []
    for dirpath, dirnames, filenames in os.walk(exp_dir):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not (here == exp_dir and d in UNVERSIONED))
        out += [(here / f).relative_to(root).as_posix() for f in sorted(filenames)
                if not f.startswith(".") and not f.endswith(".dvc")]
    return sorted(out)


def _folder_regex(kind: str) -> re.Pattern:
    """A folder template of paths.TEMPLATES as a regex, one path component per key."""
    return re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(paths.TEMPLATES[kind])) + "$")


@dataclass
class Selection:
    """What a snapshot of ``results/{exp}`` versions and what it leaves out."""

    exp: str
    files: list[str] = field(default_factory=list)  # the plan's files found under results/{exp}
    stale: list[str] = field(default_factory=list)  # every other file there
    groups: list[str] = field(default_factory=list)  # ``stale`` as wholly stale folders (trailing /) and files
    units: list[str] = field(default_factory=list)  # DVC units holding a file of the plan
    dropped: list[str] = field(default_factory=list)  # DVC units holding none


def _group(candidates: Iterable[str], stale: set[str], exp_dir: str) -> list[str]:
    """Stale files with each wholly stale folder (every file under it stale) folded into ``folder/``."""
    kept_dirs: set[str] = set()  # folders with at least one file that is not stale
    for f in candidates:
        if f not in stale:
            parts = f.split("/")
            kept_dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    out = set()
    for f in stale:
        parts = f.split("/")
        top = f
        for i in range(len(parts) - 1, 0, -1):
            d = "/".join(parts[:i])
            if d in kept_dirs or not d.startswith(exp_dir + "/"):
                break
            top = d + "/"
        out.add(top)
    return sorted(out)


def select(exp: str, plan: Iterable[str], repo_root: str | os.PathLike = ".") -> Selection:
    """Split the files of ``results/{exp}`` (:func:`experiment_files`) into the plan's and the stale ones.

    ``plan``: every file of the plan (posix paths relative to ``repo_root``, directories standing for
    everything under them), as :func:`prunebench.dryrun.plan_files` gives it. See the module docstring
    for the rules; raises ValueError when the plan writes nothing under ``results/{exp}/`` (the config
    of another experiment)."""
    root = Path(repo_root)
    exp_dir = f"results/{exp}"
    products = {p.rstrip("/") for p in plan if p.startswith(exp_dir + "/")}
    if not products:
        names = sorted({p.split("/")[1] for p in plan if p.startswith("results/") and p.count("/") > 1})
        raise ValueError(f"the plan writes nothing under {exp_dir}/ (it writes results/{', results/'.join(names)}/): "
                         f"pass the config files of the run named {exp!r}")
    stems: dict[str, set[str]] = {}
    owned: set[str] = set()
    owned_re = [_folder_regex(k) for k in OWNED]
    for p in products:
        folder, _, name = p.rpartition("/")
        stems.setdefault(folder, set()).add(name.split(".", 1)[0])
        if any(r.match(folder) for r in owned_re):
            owned.add(folder)
    views = sorted(p for p in products if p.startswith((f"{exp_dir}/tables/", f"{exp_dir}/figures/")))
    report_ok = _report_is_current(root / exp_dir / REPORT, [root / p for p in views])

    def in_plan(f: str) -> bool:
        parts = f.split("/")
        ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if f in products or any(a in products or a in owned for a in ancestors):
            return True
        folder, _, name = f.rpartition("/")
        if name.split(".", 1)[0] in stems.get(folder, ()):
            return True
        return f == f"{exp_dir}/{REPORT}" and report_ok

    candidates = experiment_files(exp, root)
    sel = Selection(exp)
    for f in candidates:
        (sel.files if in_plan(f) else sel.stale).append(f)
    sel.groups = _group(candidates, set(sel.stale), exp_dir)
    for unit in tracked_paths(exp, root):
        (sel.units if any(f == unit or f.startswith(unit + "/") for f in sel.files) else sel.dropped).append(unit)
    return sel


def _report_is_current(report: Path, views: list[Path]) -> bool:
    """The report is not older than any table or figure of the plan that exists."""
    if not report.is_file():
        return False
    times = [v.stat().st_mtime for v in views if v.is_file()]
    return not times or report.stat().st_mtime >= max(times)


def _ignore_pattern(rel: str) -> str:
    """A path relative to the ignore file's folder as an anchored gitignore pattern (special characters
    escaped; a trailing / kept: a folder)."""
    return "/" + re.sub(r"([\\\[\]*?!# ])", r"\\\1", rel)


def ignore_text(sel: Selection) -> str:
    """The ``results/{exp}/.dvcignore`` of a selection: its stale files and folders."""
    prefix = f"results/{sel.exp}/"
    return IGNORE_HEADER + "".join(_ignore_pattern(g[len(prefix):]) + "\n" for g in sel.groups)


def delete_command(sel: Selection) -> str:
    """The shell line that deletes the stale files (the snapshot never runs it)."""
    return "rm -r -- " + " ".join(shlex.quote(g.rstrip("/")) for g in sel.groups) if sel.groups else ""


def report_lines(sel: Selection) -> list[str]:
    """The stale files as the snapshot prints them: a count, each folder or file, the delete command."""
    if not sel.stale:
        return [f"stale: none (every file under results/{sel.exp}/ belongs to the current plan)"]
    lines = [f"stale: {len(sel.stale)} files under results/{sel.exp}/ that the current plan does not produce "
             f"(a scorer, ratio, setting or study no longer in the config): left out of the snapshot "
             f"(listed in results/{sel.exp}/{IGNORE_FILE}), not deleted:"]
    for g in sel.groups:
        n = sum(f.startswith(g) for f in sel.stale) if g.endswith("/") else 1
        lines.append(f"  {g}" + (f"  ({n} file{'s' if n > 1 else ''})" if g.endswith("/") else ""))
    lines.append("delete them (after checking the list) with:")
    lines.append(f"  {delete_command(sel)}")
    return lines


def _stale_dvc_files(exp_dir: Path) -> list[Path]:
    """``.dvc`` files under ``exp_dir`` whose output is gone (``dvc status`` would report it deleted)."""
    return [f for f in sorted(exp_dir.rglob("*.dvc")) if not f.with_suffix("").exists()]


def plan_of(configfiles: Sequence[str] = (), repo_root: str | os.PathLike = ".", config: Sequence[str] = (),
            snakefile: str | None = None) -> set[str]:
    """The files of the plan of ``configfiles`` (``--configfile``) and ``config`` (``--config KEY=VALUE``
    overrides): :func:`prunebench.dryrun.plan_files` in ``repo_root``."""
    from .dryrun import plan_files

    configfiles = [str(Path(c).resolve()) for c in configfiles]  # the dry run runs in repo_root
    args = [*(["--snakefile", str(Path(snakefile).resolve())] if snakefile else []),
            *(["--configfile", *configfiles] if configfiles else []),
            *(["--config", *config] if config else [])]
    return plan_files(args, repo_root)


def plan_options(configfiles: Sequence[str | os.PathLike] = (), config_args: Sequence[str] | None = ()) -> str:
    """``--configfile ... --config ...`` of :func:`main` for a run's config files and ``--config`` overrides
    (the snapshot rule passes Snakemake's own: its dry run then plans the same run), shell-quoted."""
    words = ["--configfile", *map(str, configfiles)] if configfiles else []
    words += ["--config", *map(str, config_args)] if config_args else []
    return shlex.join(words)


def snapshot(exp: str, repo_root: str | os.PathLike = ".", push: bool = False, remote: str | None = None,
             data: bool = True, plan: Iterable[str] | None = None, configfiles: Sequence[str] = (),
             config: Sequence[str] = (), snakefile: str | None = None) -> list[str]:
    """Track the plan's files of ``results/{exp}`` (and ``data/`` when ``data``) with DVC; ``push`` them.

    ``repo_root`` is the DVC/git repository root (the Snakemake working directory). ``plan`` is the
    plan's file list; None: computed by Snakemake's dry run with ``configfiles``/``config`` (the
    default config when none is given). ``remote`` names a DVC remote (default: ``core.remote`` of
    ``.dvc/config``). Prints the stale files (:func:`report_lines`), writes ``results/{exp}/.dvcignore``,
    drops the ``.dvc`` files of units with no file of the plan, and returns the tracked paths, relative
    to ``repo_root``. Re-running it after an unchanged run is a no-op; after a changed run it updates
    the ``.dvc`` files of the stages that changed. Files are not rewritten (with ``cache.type = copy``
    DVC copies them into its cache), so their modification times, which Snakemake compares, stay.
    """
    from dvc.repo import Repo

    root = Path(Repo.find_root(str(repo_root)))
    exp_dir = root / "results" / exp
    if not exp_dir.is_dir():
        raise FileNotFoundError(f"{exp_dir} does not exist: run the pipeline for experiment {exp!r} first")
    if plan is None:
        plan = plan_of(configfiles, root, config, snakefile)
    sel = select(exp, plan, root)
    for line in report_lines(sel):
        print(line, flush=True)
    for f in _stale_dvc_files(exp_dir):
        log.warning("%s tracks %s, which no longer exists: `dvc remove %s` if that is intended",
                    f.relative_to(root), f.with_suffix("").relative_to(root), f.relative_to(root))
    dropped = [u for u in sel.dropped if (root / f"{u}.dvc").is_file()]
    if dropped:
        with Repo(str(root)) as repo:  # before the new ignore list hides their outputs from DVC
            for u in dropped:
                repo.remove(str(root / f"{u}.dvc"), outs=False)
                print(f"no file of the plan left in {u}: removed {u}.dvc (its files stay in place)", flush=True)
    ignore = exp_dir / IGNORE_FILE
    if sel.groups or ignore.exists():
        from . import io

        io.write_text(ignore, ignore_text(sel))
    units = list(sel.units)
    if data and (root / "data").is_dir():
        units = ["data", *units]
    with Repo(str(root)) as repo:
        repo.add([str(root / p) for p in units])
        if push:
            repo.push(targets=[str(root / p) for p in units], remote=remote)
    return units


def main(argv: Sequence[str] | None = None) -> int:
    """``prunebench snapshot``: version an experiment's outputs with DVC."""
    p = argparse.ArgumentParser(
        prog="prunebench snapshot",
        description="Track the outputs of the current plan under results/EXP (and data/) with DVC: one .dvc file "
                    "per stage folder (labels, surrogate, scores, subsets, retrain, tables, figures, report, "
                    "benchmarks; logs are not versioned). The plan is Snakemake's dry run of the given config "
                    "files; files of results/EXP it does not produce (a scorer or sweep removed from the config) "
                    "are stale: listed, left out through results/EXP/.dvcignore, never deleted. Then commit the "
                    ".dvc, .gitignore and .dvcignore files with git. Restore a version with `git checkout REV && "
                    "dvc checkout && snakemake --cores all --touch` (see docs/guides/dvc.md).",
    )
    p.add_argument("--exp", default="default", help="experiment name = the config's `name` (default: default)")
    p.add_argument("--configfile", nargs="+", default=[], metavar="FILE",
                   help="the run's config files, as given to snakemake (default: none, the default config)")
    p.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                   help="the run's snakemake --config overrides, if any")
    p.add_argument("--snakefile", default=None, help="the Snakefile (default: Snakemake's, workflow/Snakefile)")
    p.add_argument("--stale", action="store_true",
                   help="only print the stale files and folders, one per line, and change nothing "
                        "(e.g. prunebench snapshot --exp EXP --stale | xargs -d '\\n' rm -r --)")
    p.add_argument("--push", action="store_true", help="also `dvc push` the tracked outputs to the remote")
    p.add_argument("--remote", default=None,
                   help="DVC remote to push to (default: core.remote in .dvc/config, a local directory)")
    p.add_argument("--repo", default=".", help="repository root (default: the current directory)")
    p.add_argument("--no-data", action="store_true", help="do not (re-)track data/ in data.dvc")
    a = p.parse_args(argv)
    if not log.handlers:  # our warnings only: DVC's own logger already prints DVC's messages
        log.addHandler(logging.StreamHandler())
    if a.stale:
        sel = select(a.exp, plan_of(a.configfile, a.repo, a.config, a.snakefile), a.repo)
        for g in sel.groups:
            print(g.rstrip("/"))
        return 0
    paths_ = snapshot(a.exp, a.repo, push=a.push, remote=a.remote, data=not a.no_data,
                      configfiles=a.configfile, config=a.config, snakefile=a.snakefile)
    for path in paths_:
        print(f"tracked {path} -> {path}.dvc")
    print(f"{len(paths_)} DVC files{' (pushed)' if a.push else ''}; commit them: git add data.dvc results && git commit")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Version an experiment's outputs with DVC: ``prunebench snapshot`` / ``snakemake snapshot``.

A snapshot hands the finished outputs of ``results/{exp}/`` (and the prepared
``data/``) to DVC (``dvc add``, optionally ``dvc push``) through DVC's own
Python API: DVC does the hashing, caching and transfer; nothing here hashes or
copies files. Commit the ``.dvc`` files and the ``.gitignore`` entries DVC
writes next to them with git; ``git checkout <rev> && dvc checkout`` (then
``snakemake --touch``, see docs/dvc.md) brings that version back.

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
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: children of ``results/{exp}`` (and of a noise folder) that are never versioned
UNVERSIONED = frozenset({"logs"})
#: what a ``results/{exp}/{dataset}/{noise}`` folder holds (the contract); any one marks a noise folder
STAGES = ("labels.npz", "surrogate", "scores", "subsets", "retrain")


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


def _stale_dvc_files(exp_dir: Path) -> list[Path]:
    """``.dvc`` files under ``exp_dir`` whose output is gone (``dvc status`` would report it deleted)."""
    return [f for f in sorted(exp_dir.rglob("*.dvc")) if not f.with_suffix("").exists()]


def snapshot(exp: str, repo_root: str | os.PathLike = ".", push: bool = False, remote: str | None = None,
             data: bool = True) -> list[str]:
    """Track ``results/{exp}`` (and ``data/`` when ``data``) with DVC; ``push`` them to ``remote``.

    ``repo_root`` is the DVC/git repository root (the Snakemake working
    directory). ``remote`` names a DVC remote (default: ``core.remote`` of
    ``.dvc/config``). Returns the tracked paths, relative to ``repo_root``.
    Re-running it after an unchanged run is a no-op; after a changed run it
    updates the ``.dvc`` files of the stages that changed. Files are not
    rewritten (with ``cache.type = copy`` DVC copies them into its cache), so
    their modification times, which Snakemake compares, stay as they were.
    """
    from dvc.repo import Repo

    root = Path(Repo.find_root(str(repo_root)))
    paths = tracked_paths(exp, root)
    if data and (root / "data").is_dir():
        paths = ["data", *paths]
    for f in _stale_dvc_files(root / "results" / exp):
        log.warning("%s tracks %s, which no longer exists: `dvc remove %s` if that is intended",
                    f.relative_to(root), f.with_suffix("").relative_to(root), f.relative_to(root))
    with Repo(str(root)) as repo:
        repo.add([str(root / p) for p in paths])
        if push:
            repo.push(targets=[str(root / p) for p in paths], remote=remote)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``prunebench snapshot``: version an experiment's outputs with DVC."""
    p = argparse.ArgumentParser(
        prog="prunebench snapshot",
        description="Track the outputs of results/EXP (and data/) with DVC: one .dvc file per stage folder "
                    "(labels, surrogate, scores, subsets, retrain, tables, figures, report, benchmarks; "
                    "logs are not versioned). Then commit the .dvc and .gitignore files with git. "
                    "Restore a version with `git checkout REV && dvc checkout && snakemake --cores all --touch` "
                    "(see docs/dvc.md).",
    )
    p.add_argument("--exp", default="default", help="experiment name = the config's `name` (default: default)")
    p.add_argument("--push", action="store_true", help="also `dvc push` the tracked outputs to the remote")
    p.add_argument("--remote", default=None,
                   help="DVC remote to push to (default: core.remote in .dvc/config, a local directory)")
    p.add_argument("--repo", default=".", help="repository root (default: the current directory)")
    p.add_argument("--no-data", action="store_true", help="do not (re-)track data/ in data.dvc")
    a = p.parse_args(argv)
    if not log.handlers:  # our warnings only: DVC's own logger already prints DVC's messages
        log.addHandler(logging.StreamHandler())
    paths = snapshot(a.exp, a.repo, push=a.push, remote=a.remote, data=not a.no_data)
    for path in paths:
        print(f"tracked {path} -> {path}.dvc")
    print(f"{len(paths)} DVC files{' (pushed)' if a.push else ''}; commit them: git add data.dvc results && git commit")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""``prunebench verify``: check every contract file of a plan against the sha256 its writer recorded.

Each file is checked as the job that reads it would check it (:func:`prunebench.io.verify_file`,
:func:`prunebench.io.read_json`): JSON files against their own ``content_sha256``, binary and CSV
files against their record (sidecar ``.meta.json`` or folder manifest), ``.npz``/``.pt`` archives by
their zip CRCs; the files a surrogate run's manifest lists (its checkpoints) are checked too. The
damaged files are printed one per line, then the one ``snakemake --forcerun`` line that rebuilds them
and everything built from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import io
from .paths import rebuild_target


@dataclass
class Report:
    checked: int = 0
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    missing: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)  # readable, but no sha256 recorded for it

    def forcerun(self) -> list[str]:
        """The rule outputs to force: one per damaged (or missing) file's producing job."""
        return sorted({rebuild_target(p) for p, _ in self.damaged} | {rebuild_target(p) for p in self.missing})


def _files_below(path: Path) -> list[Path]:
    """A contract entry as files: a directory output (a surrogate variant's run) by its files, a surrogate
    run's manifest with the files it lists (checkpoints are no declared output)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                      and p.suffix in (".json", ".npz", ".npy", ".pt", ".csv") and "timing" not in p.name
                      and "checkpoints" not in p.relative_to(path).parts)  # listed by their manifest
    return [path]


def check_file(path: Path, report: Report) -> None:
    report.checked += 1
    try:
        if path.suffix == ".json":
            with open(path, encoding="utf-8") as fh:
                recorded = io.SELF_HASH in fh.read()
            meta = io.read_json(path)
            if path.name == "surrogate.json":  # its checkpoints, which the rule does not declare one by one
                for rel in sorted(meta.get("files") or {}):
                    extra = path.parent / rel
                    if rel.startswith("checkpoints/"):
                        if extra.exists():
                            check_file(extra, report)
                        else:
                            report.missing.append(str(extra))
        else:
            recorded = io.verify_file(path) is not None
    except (ValueError, OSError) as exc:
        report.damaged.append((str(path), str(exc).split("; rebuild it:")[0]))
        return
    if not recorded:
        report.unrecorded.append(str(path))


def verify(files, root: str | Path = ".") -> Report:
    """Check ``files`` (paths relative to ``root``, as the plan names them)."""
    report = Report()
    root = Path(root)
    for f in files:
        p = root / f
        if not p.exists():
            report.missing.append(str(f))
            continue
        for q in _files_below(p):
            check_file(q, report)
    return report


def print_report(report: Report, command: str) -> int:
    """Print the findings; 1 when anything is damaged or missing, else 0."""
    for path, reason in report.damaged:
        print(f"DAMAGED {reason}" if reason.startswith(path) else f"DAMAGED {path}: {reason}")
    for path in report.missing:
        print(f"MISSING {path}")
    if report.unrecorded:
        print(f"{len(report.unrecorded)} file(s) carry no recorded sha256 (written by an external program, or "
              f"before hashes were recorded): checked for structure only, e.g. {report.unrecorded[0]}")
    bad = len(report.damaged) + len(report.missing)
    print(f"{report.checked} file(s) checked: {len(report.damaged)} damaged, {len(report.missing)} missing")
    if bad:
        print("rebuild them and everything built from them:")
        print(f"  {command} --forcerun {' '.join(report.forcerun())}")
    return 1 if bad else 0

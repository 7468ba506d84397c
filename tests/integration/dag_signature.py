"""The dry-run signature of every shipped config: each job's rule, files and shell command, sorted.

    python tests/integration/dag_signature.py > sig-$(git rev-parse --short HEAD).txt

Two commits whose signatures are equal plan the same jobs with the same commands (docs/guides/contributing.md):
a refactor of the planning layer, the paths or the rules must leave it unchanged. The files of an ``input:``
line are compared as a set: their order shows where it matters, in the shell command that lists them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [None, "tests/data/tiny.yaml", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "config/presets").glob("*.yaml"))]
NOISE = re.compile(r"^\[|^Building|^Using|^Job stats|^host:|^This was a dry-run|^Provided|^Select jobs|^Execute|"
                   r"^Would|^Workflow|^Nothing|^Reasons|^  *(reason|jobid|resources):|^$|Date:|Workflow ID:|"
                   r"^Assuming|^Config file|^  +(Working directory|Config file|Config MD5|Base directory|Command|Run directory|"
                   r"Snakefile|Profile)")


def signature(configfile: str | None) -> list[str]:
    snakemake = str(Path(sys.executable).parent / "snakemake")
    args = [snakemake, "-n", "--forceall", "-p", "--nolock", "--cores", "2"]
    if configfile:
        args += ["--configfile", configfile]
    with tempfile.TemporaryDirectory() as shadow:  # no lock, no metadata written to the checkout
        proc = subprocess.run(args + ["--shadow-prefix", shadow], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return [f"FAILED {configfile}: {proc.stderr.strip().splitlines()[-1:] }"]
    lines = [re.sub(r"[0-9]+ of [0-9]+ steps.*", "", line) for line in (proc.stdout + proc.stderr).splitlines()]
    lines = [_sorted_inputs(line) for line in lines]
    return sorted(f"{configfile or 'default'}\t{line}" for line in lines if not NOISE.search(line))


def _sorted_inputs(line: str) -> str:
    m = re.match(r"(\s*input: )(.*)$", line)
    return m.group(1) + ", ".join(sorted(m.group(2).split(", "))) if m else line


def main() -> None:
    for cfg in CONFIGS:
        for line in signature(cfg):
            print(line)


if __name__ == "__main__":
    main()

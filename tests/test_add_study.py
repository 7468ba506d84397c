"""A new study is one file: the README's example ("Adding a study") is written, verbatim, into a temporary copy
of the repository; the tiny config's run then builds the study's table and figure, and the HTML report shows
the figure with its caption. No rule, localrules entry or rule-all target is written by hand."""

import os
import re
import shutil

import pandas as pd
import pytest
from conftest import ROOT, run_snakemake


def _readme_example() -> tuple[str, str]:
    """The README's study example: (its path, from the block's first comment line; the code)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Adding a study"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return re.match(r"# (\S+\.py)\n", code).group(1), code


def test_the_readme_example_registers_a_study():
    """The example is valid and registers under its name (fast: no run; in its own process, so this test
    process's registry stays as shipped)."""
    import json
    import subprocess
    import sys

    path, code = _readme_example()
    assert path.startswith("src/prunebench/studies/") and not (ROOT / path).exists()
    name = re.search(r'register_study\(\s*"(\w+)"', code).group(1)
    probe = (code + "\nimport json\nfrom prunebench.studies.registry import STUDIES\n"
             f"st = STUDIES.get({name!r})\n"
             "print(json.dumps([st.inputs_arg, [o.key for o in st.outputs], [o.key for o in st.outputs if o.caption]]))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    inputs_arg, outputs, captioned = json.loads(out.splitlines()[-1])
    assert inputs_arg == "{input}" and outputs == ["table", "png", "pdf"] and captioned == ["pdf"]


@pytest.mark.slow
def test_a_study_is_one_file(tmp_path, monkeypatch):
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".snakemake")
    for d in ("src", "workflow", "config"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=ignore)
    shutil.copy(ROOT / "tests" / "data" / "tiny.yaml", tmp_path / "tiny.yaml")
    path, code = _readme_example()
    name = re.search(r'register_study\(\s*"(\w+)"', code).group(1)
    (tmp_path / path).write_text(code)  # the one edit
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "src"), os.environ.get("PYTHONPATH", "")]))
    run_snakemake(tmp_path, "--config", "only_sweeps=[main]")
    table = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / f"{name}.csv")
    assert {"scorer", "ratio", "n_kept"} <= set(table.columns) and len(table)
    assert (tmp_path / "results" / "tiny" / "figures" / f"{name}.png").stat().st_size > 0
    report = tmp_path / "report.html"
    run_snakemake(tmp_path, "--report", str(report), "--config", "only_sweeps=[main]")
    html = report.read_text()
    caption = re.search(r'caption="([^"]+)"', code).group(1)
    assert f"{name}.pdf" in html and caption in html

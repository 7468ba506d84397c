"""A new scorer is one file under scorers/ and one line in config/config.yaml. This test makes
exactly the README's two edits ("Adding a scorer") in a temporary copy of the repository and runs the tiny
config's head-to-head there: the new scorer must reach tables/significance.csv."""

import os
import re
import shutil

import pandas as pd
import pytest
from conftest import ROOT, run_snakemake


def _readme_example() -> tuple[str, str]:
    """The README's scorer example: (its path, from the block's first comment line; the code)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Adding a scorer"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = re.match(r"# (\S+\.py)\n", code).group(1)
    return path, code


def _copy_repo(dst):
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".snakemake")
    for d in ("src", "workflow", "config"):
        shutil.copytree(ROOT / d, dst / d, ignore=ignore)
    shutil.copy(ROOT / "tests" / "data" / "tiny.yaml", dst / "tiny.yaml")


@pytest.mark.slow
def test_a_scorer_is_one_file_and_one_config_line(tmp_path, monkeypatch):
    _copy_repo(tmp_path)
    path, code = _readme_example()
    name = re.search(r'@register_scorer\("(\w+)"', code).group(1)
    assert not (tmp_path / path).exists()
    (tmp_path / path).write_text(code)  # edit 1: the file
    cfg = tmp_path / "config" / "config.yaml"
    text = cfg.read_text()
    assert re.search(r"^scorers:.*$", text, re.M)
    cfg.write_text(re.sub(r"^(scorers:.*)$", rf"\1\n  {name}: {{}}", text, count=1, flags=re.M))  # edit 2
    # the copy's own source, for Snakemake's plan and for every job it starts
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "src"), os.environ.get("PYTHONPATH", "")]))
    run_snakemake(tmp_path, "results/tiny/tables/significance.csv", "--config", "only_sweeps=[main]")
    sig = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / "significance.csv")
    rows = sig[(sig["method"] == name) & (sig["comparison"] == "vs_reference")]  # paired with random
    assert len(rows) and rows["mean_method"].between(0, 1).all(), sig["method"].unique()

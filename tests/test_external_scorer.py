"""Adding a scorer as a rule: an external program (shell + awk, no Python) enters the sweep,
the tables and the figures through config alone; a malformed score file stops the DAG with an
error naming the file and the problem."""

import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_workdir, run_snakemake

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "examples" / "external_scorer" / "awk_scorer.sh"


def _config(wd, bad=""):
    cfg = yaml.safe_load(open(wd / "tiny.yaml"))
    cfg["external_scorers"] = {
        "awkscore": {
            "shell": f"bash {SCRIPT} {{input.meta}} {{wildcards.s}} {{output.scores}} {{output.meta}} {bad}",
            "keep": "high",
            "needs_surrogate": False,
        }
    }
    cfg["scorers"] = {"random": {}, "el2n": {"params": {"epoch": 2}}}
    cfg["replace"] = ["scorers"]  # these two alone, not the default's scorers
    cfg["sweeps"] = {"main": cfg["sweeps"]["main"]}
    with open(wd / "ext.yaml", "w") as fh:
        yaml.safe_dump(cfg, fh)


def test_external_awk_scorer_enters_every_output(tmp_path):
    wd = make_workdir(tmp_path)
    _config(wd)
    run_snakemake(wd, configfile="ext.yaml")
    res = wd / "results" / "tiny"
    table = pd.read_csv(res / "tables" / "retrain.csv")
    # el2n reads a checkpoint under its release protocol, so tiny.yaml's `protocols: [release,
    # uniform]` adds its uniform-protocol copy; an external scorer declares no protocol: no copy
    assert set(table["scorer"]) == {"full", "random", "el2n", "el2n-uniform", "awkscore"}
    assert len(table[table["scorer"] == "awkscore"]) == 2  # two seeds at the one ratio
    corr = pd.read_csv(res / "tables" / "score_correlation.csv")
    assert "awkscore" in set(corr["method"])
    sig = pd.read_csv(res / "tables" / "significance.csv")
    assert "awkscore" in set(sig["method"])
    proc = run_snakemake(wd, "-n", "--forcerun", "external_score", configfile="ext.yaml")
    assert "external_score" in proc.stdout


@pytest.mark.parametrize("bad, message", [
    ("short", "1346 rows, expected 1347"),
    ("nan", "NaN/inf scores at index [5]"),
    ("nometa", "meta file seed0.meta.json missing"),
])
def test_malformed_external_scores_stop_the_dag(tmp_path, bad, message):
    wd = make_workdir(tmp_path)
    _config(wd, bad)
    target = "results/tiny/digits/clean/subsets/cnn_small/awkscore/keep/r0.50/seed0.npy"
    proc = run_snakemake(wd, target, configfile="ext.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in out and "awkscore/seed" in out, out[-3000:]
    assert not (wd / target).exists()

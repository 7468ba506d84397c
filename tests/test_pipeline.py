"""End to end: Snakemake on the tests' tiny config, in a temp dir; every contract file checked;
a --forceall rerun gives byte-identical contract files; the default config's full-data floor."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_workdir, run_snakemake

from prunebench import io, scorefile

pytestmark = pytest.mark.slow


def _contract_files(root: Path) -> dict[str, str]:
    keep = ("/scores/", "/subsets/", "/retrain/", "/tables/", "labels.npz", "dynamics.npz")
    out = {}
    for p in sorted(root.rglob("*")):
        s = str(p.relative_to(root))
        if "/logs/" in "/" + s or "/benchmarks/" in "/" + s or s.endswith(".timing.json"):
            continue  # timings live only there: contract files carry none
        if "/tables/cost" in "/" + s:
            continue  # the cost tables are made from those timings: they differ between runs by design
        if p.is_file() and any(k in "/" + s for k in keep):
            out[s] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    wd = make_workdir(tmp_path_factory.mktemp("wf"))
    run_snakemake(wd)
    return wd


def test_tiny_dag_contracts(tiny_run):
    wd = tiny_run
    cfg = yaml.safe_load(open(wd / "tiny.yaml"))
    res = wd / "results" / "tiny" / "digits" / "clean"
    n = io.read_json(wd / "data" / "digits" / "meta.json")["n_train"]
    labels = io.load_npz(res / "labels.npz")
    assert len(labels["y"]) == n and labels["flipped"].sum() == 0
    for scorer in cfg["scorers"]:
        for s in range(cfg["seeds"]):
            scores, meta = scorefile.read(res / "scores" / "cnn_small" / scorer / f"seed{s}.csv", n=n)
            assert np.all(np.isfinite(scores)) and meta["keep"] in ("high", "low")
            strategy = "solver" if scorer == "optprune" else "keep"
            sub = np.load(res / "subsets" / "cnn_small" / scorer / strategy / "r0.50" / f"seed{s}.npy")
            assert len(sub) == n - int(np.floor(0.5 * n + 0.5)) and np.all(np.diff(sub) > 0)
            r = io.read_json(res / "retrain" / "cnn_small" / scorer / strategy / "r0.50" / "cnn_small" / f"seed{s}.json")
            assert 0 <= r["test_accuracy"] <= 1 and r["n_kept"] == len(sub) and sum(r["class_counts"]) == len(sub)
    table = pd.read_csv(wd / "results" / "tiny" / "tables" / "retrain.csv")
    assert len(table) == (len(cfg["scorers"]) + 1) * cfg["seeds"]
    assert table["accuracy"].between(0, 1).all()
    figures = {p.name for p in (wd / "results" / "tiny" / "figures").iterdir()}
    for stem in ("accuracy_vs_ratio", "cd_diagram", "scoring_cost", "cost_vs_accuracy", "score_correlation",
                 "noise_grid", "crossarch_gain", "score_stability", "lossless_ratio", "class_composition",
                 "sample_grid", "moso_agreement", "ablation", "optprune_check", "epsilon_digits_clean_cnn_small_optprune"):
        for ext in ("pdf", "png"):
            assert f"{stem}.{ext}" in figures, f"{stem}.{ext} missing"
            assert (wd / "results" / "tiny" / "figures" / f"{stem}.{ext}").stat().st_size > 1000
    # every job left a Snakemake benchmark file; the log of the retrain job names the subsets
    assert len(list((wd / "results" / "tiny" / "benchmarks").rglob("*.tsv"))) >= 10
    assert not list(wd.rglob(".tmp-prunebench-*"))


def test_forceall_rerun_is_byte_identical(tiny_run):
    before = _contract_files(tiny_run / "results")
    assert len(before) > 20
    run_snakemake(tiny_run, "--forceall")
    after = _contract_files(tiny_run / "results")
    assert before == after
    # the figures too (saved with fixed metadata)
    fig = tiny_run / "results" / "tiny" / "figures" / "accuracy_vs_ratio.png"
    h1 = hashlib.sha256(fig.read_bytes()).hexdigest()
    run_snakemake(tiny_run, "--forcerun", "plot_accuracy")
    assert hashlib.sha256(fig.read_bytes()).hexdigest() == h1


def test_nothing_to_do_after_a_run(tiny_run):
    proc = run_snakemake(tiny_run, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_default_config_full_data_floor(tmp_path):
    """Training is real: the default config's full-data reference reaches ≥ 0.9 on digits."""
    wd = make_workdir(tmp_path)
    cfg = yaml.safe_load(open(ROOT / "config" / "config.yaml"))
    arch = cfg["sweeps"]["main"]["arch"][0]
    targets = [f"results/default/digits/clean/retrain/{arch}/full/all/r0.00/{arch}/seed{s}.json"
               for s in range(cfg["seeds"])]
    run_snakemake(wd, *targets, configfile="config/config.yaml")
    accs = [io.read_json(wd / t)["test_accuracy"] for t in targets]
    assert min(accs) >= 0.9, accs

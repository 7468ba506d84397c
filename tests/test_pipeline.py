"""End to end: Snakemake on the tests' tiny config, in a temp dir; every contract file checked (the
default selection's one end-to-end DAG, shared through the ``reference`` fixture with the probes of
tests/test_bad_inputs.py); slow: a --forceall rerun on other --cores gives byte-identical contract
files; the default config's full-data floor."""


import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_workdir, run_snakemake

from prunebench import io, plan, scorefile


@pytest.fixture(scope="module")
def tiny_run(reference):
    """The tiny config's uninterrupted run (``--cores 2``), shared with the kill test (tests/conftest.py)."""
    return reference.workdir


def test_tiny_dag_contracts(tiny_run):
    wd = tiny_run
    cfg = plan.load_config(wd / "tiny.yaml")
    res = wd / "results" / "tiny" / "digits" / "clean"
    n = io.read_json(wd / "data" / "digits" / "meta.json")["n_train"]
    labels = io.load_npz(res / "labels.npz")
    assert len(labels["y"]) == n and labels["flipped"].sum() == 0
    specs = plan.check(cfg)
    for scorer in cfg["scorers"]:
        for s in range(cfg["seeds"]):
            scores, meta = scorefile.read(res / "scores" / "cnn_small" / scorer / f"seed{s}.csv", n=n)
            assert np.all(np.isfinite(scores)) and meta["keep"] in ("high", "low")
            strategy = specs[scorer].strategy  # the method's release protocol (registry)
            sub = np.load(res / "subsets" / "cnn_small" / scorer / strategy / "r0.50" / f"seed{s}.npy")
            assert len(sub) == n - int(np.floor(0.5 * n + 0.5)) and np.all(np.diff(sub) > 0)
            sub_meta = io.read_json(res / "subsets" / "cnn_small" / scorer / strategy / "r0.50" / f"seed{s}.meta.json")
            assert sum(sub_meta["class_counts"]) == len(sub)
            r = io.read_json(res / "retrain" / "cnn_small" / scorer / strategy / "r0.50" / "cnn_small" / f"seed{s}.json")
            assert 0 <= r["test_accuracy"] <= 1 and r["n_kept"] == len(sub) and sum(r["class_counts"]) == len(sub)
            assert r["test_accuracy_best"] >= r["test_accuracy"] == r["test_accuracy_curve"][-1]
            if specs[scorer].method == "moso":  # per-class equal quotas: no class left empty
                assert min(r["class_counts"]) > 0 and sub_meta["empty_classes"] == []
    table = pd.read_csv(wd / "results" / "tiny" / "tables" / "retrain.csv")
    digits = [st for st in plan.retrain_settings(cfg, specs) if st["dataset"] == "digits"]
    assert (table["dataset"] == "digits").sum() == len(digits) * cfg["seeds"]
    assert table["accuracy"].between(0, 1).all() and set(table["regime"]) <= {"converged", "not converged"}
    # the protocol study: each method under its release protocol and the uniform one, paired by seed
    proto = pd.read_csv(wd / "results" / "tiny" / "tables" / "protocol.csv").set_index("method")
    assert proto.loc["moso", "release"] == "moso+classeq" and proto.loc["moso", "uniform"] == "moso"
    assert proto.loc["el2n", "uniform"] == "el2n-uniform" and proto["n_seeds"].eq(cfg["seeds"]).all()
    conv = pd.read_csv(wd / "results" / "tiny" / "tables" / "convergence.csv")
    assert set(conv["dataset"]) == {"digits", "digits-lt5"} and (conv["epochs_long"] == 2 * conv["epochs"]).all()
    acc = pd.read_csv(wd / "results" / "tiny" / "tables" / "accuracy.csv")
    assert {"empty_classes", "regime", "acc_best_mean"} <= set(acc.columns)
    # the imbalance sweep: the long-tailed subset digits-lt5 (its own data folder), per-class results
    lt_meta = io.read_json(wd / "data" / "digits-lt5" / "meta.json")
    assert lt_meta["long_tail"]["ratio"] == 5 and lt_meta["n_train"] == sum(lt_meta["long_tail"]["class_counts"]) < n
    lt = table[table["dataset"] == "digits-lt5"]
    assert sorted(set(lt["scorer"])) == ["el2n", "full", "random"] and (lt["n_train"] == lt_meta["n_train"]).all()
    imb = pd.read_csv(wd / "results" / "tiny" / "tables" / "imbalance.csv")
    assert set(imb["dataset"]) == {"digits", "digits-lt5"} and imb["tail_acc_mean"].between(0, 1).all()
    # the budget study: the same subsets retrained under tiny's budget (epochs) and under steps
    bud = pd.read_csv(wd / "results" / "tiny" / "tables" / "budget.csv")
    assert set(bud["budget"]) == {"epochs", "steps"} and set(bud["method"]) == {"el2n", "random+classbal"}
    steps = bud.pivot(index="method", columns="budget", values="steps")
    assert (steps["steps"] > steps["epochs"]).all()  # half the data, as many updates as full data: 2x
    assert (table["budget"] == "epochs").all()  # the head-to-head tables hold the run's own budget only
    assert len(pd.read_csv(wd / "results" / "tiny" / "tables" / "budget_rank.csv")) == 1
    figures = {p.name for p in (wd / "results" / "tiny" / "figures").iterdir()}
    for stem in ("accuracy_vs_ratio", "cd_diagram", "scoring_cost", "cost_vs_accuracy", "score_correlation",
                 "noise_grid", "crossarch_gain", "score_stability", "lossless_ratio", "class_composition",
                 "sample_grid", "moso_agreement", "ablation", "optprune_check", "epsilon_digits_clean_cnn_small_optprune",
                 "imbalance", "protocol", "budget"):
        for ext in ("pdf", "png"):
            assert f"{stem}.{ext}" in figures, f"{stem}.{ext} missing"
            assert (wd / "results" / "tiny" / "figures" / f"{stem}.{ext}").stat().st_size > 1000
    # every job left a Snakemake benchmark file; the log of the retrain job names the subsets
    assert len(list((wd / "results" / "tiny" / "benchmarks").rglob("*.tsv"))) >= 10
    assert not list(wd.rglob(".tmp-prunebench-*"))


@pytest.mark.slow
def test_forceall_rerun_on_other_cores_is_byte_identical(reference):
    """Determinism: a --forceall rerun with --cores 1 (other job interleavings than the --cores 2
    reference) gives the same sha256 for every contract file — data, labels, dynamics, checkpoints,
    scores, subsets, retrain results, tables and figures (saved with fixed metadata); only logs,
    benchmark files, timing sidecars and the cost outputs made from them may differ — and leaves
    no temp file."""
    from kill_test import contract_hashes, run, temp_files

    before = reference.hashes
    assert len(before) > 100 and any(f.endswith(".pt") for f in before) and any("/figures/" in f for f in before)
    proc = run(reference.workdir, reference.snapshot, "--forceall", cores=1, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    after = contract_hashes(reference.workdir)
    assert sorted(after) == sorted(before)
    assert not sorted(f for f in before if before[f] != after[f])
    assert temp_files(reference.workdir) == []


def test_nothing_to_do_after_a_run(tiny_run):
    proc = run_snakemake(tiny_run, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
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

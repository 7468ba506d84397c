"""The budget axis: a sweep's `budgets`, the plan's extra retrain jobs, and the budget study's tables
(accuracy per budget, Kendall τ of the methods' order between budgets)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pandas as pd
import pytest

from prunebench import plan
from prunebench.studies.budget import budget, budget_frame, budget_order, budget_table, rank_agreement

ROOT = Path(__file__).resolve().parents[1]


def _tiny():
    return plan.load_config(ROOT / "tests" / "data" / "tiny.yaml")


# --- plan -----------------------------------------------------------------------------------------

def test_the_runs_own_budget_comes_first_and_once():
    cfg = {"retrain": {"budget": "steps"}}
    assert plan.sweep_budgets(cfg, {}) == ["steps"]
    assert plan.sweep_budgets(cfg, {"budgets": ["epochs", "steps", "x2"]}) == ["steps", "epochs", "x2"]
    assert plan.sweep_budgets({}, {"budgets": ["x0.5"]}) == ["epochs", "x0.5"]
    assert plan.budget_slug("x0.5") == "x0_5"


def test_budget_sweep_adds_one_retrain_group_and_its_jobs_per_other_budget():
    cfg = _tiny()
    specs = plan.check(cfg)
    groups = {g["name"]: g for g in plan.retrain_groups(cfg, specs)}
    assert groups["budget"]["budget"] is None and groups["main"]["budget"] is None
    assert groups["budget_budget_steps"]["budget"] == "steps"
    assert groups["budget_budget_steps"]["scorer"] == groups["budget"]["scorer"] == ["el2n", "random"]
    # one job trains the sweep's whole other budget: every (scorer, strategy) × ratio × seed
    assert groups["budget_budget_steps"]["pairs"] == [("el2n", "keep"), ("random", "classbal")]
    runs = plan.budget_job_runs(groups["budget_budget_steps"], cfg["seeds"])
    assert runs[:2] == [{"scorer": "el2n", "strategy": "keep", "ratio": "0.50", "seed": 0},
                        {"scorer": "el2n", "strategy": "keep", "ratio": "0.50", "seed": 1}] and len(runs) == 4
    jobs = plan.budget_settings(cfg, specs)
    assert {(j["scorer"], j["strategy"], j["budget"]) for j in jobs} == {("el2n", "keep", "steps"),
                                                                           ("random", "classbal", "steps")}
    own = plan.budget_settings(cfg, specs, own=True)
    assert {(j["scorer"], j["budget"]) for j in own} == {("el2n", "epochs"), ("random", "epochs")}
    # the other budgets' runs are not head-to-head runs: the tables never mix budgets
    assert all("budget" not in st for st in plan.retrain_settings(cfg, specs))


def test_no_budgets_key_no_budget_jobs():
    cfg = _tiny()
    del cfg["sweeps"]["budget"]
    specs = plan.check(cfg)
    assert plan.budget_settings(cfg, specs) == [] and plan.budget_settings(cfg, specs, own=True) == []
    assert all(g["budget"] is None for g in plan.retrain_groups(cfg, specs))


@pytest.mark.parametrize("budgets, message", [
    (["x1"], "'x1' is the same budget as 'epochs'"),
    (["steps", "x2", "x2.0"], "'x2.0' is the same budget as 'x2'"),
    (["weeks"], "budget must be 'epochs', 'steps' or an epoch multiple"),
])
def test_bad_budgets_are_refused_with_the_field(budgets, message):
    cfg = copy.deepcopy(_tiny())
    cfg["sweeps"]["budget"]["budgets"] = budgets
    with pytest.raises(plan.ConfigError, match="sweeps.budget.budgets") as exc:
        plan.check(cfg)
    assert message in str(exc.value)


# --- the study's tables ---------------------------------------------------------------------------

def _result(scorer, strategy, budget, seed, acc, steps, ratio=0.5):
    return {"dataset": "d", "noise": "clean", "arch": "a", "target": "a", "ratio": ratio, "scorer": scorer,
            "strategy": strategy, "budget": budget, "seed": seed, "test_accuracy": acc, "steps": steps,
            "epochs": 8, "class_counts": [3, 3] if scorer != "bad" else [6, 0]}


def _results():
    # under "epochs" (100 updates) the order is random > el2n > bad; under "steps" (400) el2n > random > bad
    acc = {"epochs": {"random": 0.80, "el2n": 0.70, "bad": 0.50}, "steps": {"random": 0.90, "el2n": 0.95, "bad": 0.60}}
    steps = {"epochs": 100, "steps": 400}
    return [_result(sc, "classbal" if sc == "random" else "keep", b, s, acc[b][sc] + 0.01 * s, steps[b])
            for b in acc for sc in acc[b] for s in range(3)]


def test_budget_table_gains_ranks_and_empty_classes():
    t = budget_table(budget_frame(_results()), reference="random+classbal")
    row = t[(t["budget"] == "steps") & (t["method"] == "el2n")].iloc[0]
    assert row["acc"] == pytest.approx(0.96) and row["gain"] == pytest.approx(0.05) and row["rank"] == 1
    assert row["steps"] == 400 and row["n_seeds"] == 3
    ref = t[(t["budget"] == "epochs") & (t["method"] == "random+classbal")].iloc[0]
    assert ref["rank"] == 1 and math.isnan(ref["gain"])
    assert t[t["method"] == "bad"]["empty_classes"].eq(1).all()
    assert budget_order(t) == ["epochs", "steps"]


def test_kendall_tau_between_budgets():
    t = budget_table(budget_frame(_results()), reference="random+classbal")
    r = rank_agreement(t)
    assert len(r) == 1
    row = r.iloc[0]
    assert (row["budget_a"], row["budget_b"], row["n_methods"]) == ("epochs", "steps", 3)
    # pairs: (random, el2n) flips, (random, bad) and (el2n, bad) agree → τ = (2 − 1) / 3
    assert row["kendall_tau"] == pytest.approx(1 / 3)
    assert (row["top_a"], row["top_b"]) == ("random+classbal", "el2n")
    order = {"random+classbal": 0.9, "el2n": 0.8, "bad": 0.1}
    same = rank_agreement(t.assign(acc=t["method"].map(order) + (t["budget"] == "steps") * 0.05))  # one order
    assert same["kendall_tau"].iloc[0] == pytest.approx(1.0)


def test_budget_kind_writes_tables_and_figure(tmp_path):
    import json

    paths = []
    for i, r in enumerate(_results()):
        p = tmp_path / f"r{i}.json"
        p.write_text(json.dumps(r))
        paths.append(str(p))
    out = {k: str(tmp_path / f) for k, f in (("table", "budget.csv"), ("rank", "budget_rank.csv"),
                                             ("pdf", "budget.pdf"), ("png", "budget.png"))}
    budget(paths, out, reference="random+classbal")
    assert len(pd.read_csv(out["table"])) == 6
    assert pd.read_csv(out["rank"])["kendall_tau"].iloc[0] == pytest.approx(1 / 3)
    assert Path(out["png"]).stat().st_size > 0 and Path(out["pdf"]).stat().st_size > 0


# --- overlapping sweeps: the job with the most ratios makes the shared files ------------------------

def test_the_sweep_with_the_most_ratios_makes_shared_files_whatever_the_config_order():
    cfg = _tiny()
    cfg["ratios"] = [0.3, 0.5]
    cfg["sweeps"] = dict(sorted(cfg["sweeps"].items()))  # ablation, budget (r0.5 only), imbalance, main
    order = plan.retrain_rule_order(plan.retrain_groups(cfg, plan.check(cfg)))
    assert order.index("retrain_main") < order.index("retrain_budget")  # main has 0.3 and 0.5


def test_partly_overlapping_sweeps_are_refused_naming_them():
    cfg = _tiny()
    cfg["ratios"] = [0.3, 0.5, 0.7]
    cfg["sweeps"]["main"]["ratios"] = [0.3, 0.5]
    cfg["sweeps"]["budget"]["ratios"] = [0.5, 0.7]
    with pytest.raises(plan.ConfigError) as exc:
        plan.check(cfg)
    msg = str(exc.value)
    assert "retrain el2n (keep)" in msg and "sweeps.main" in msg and "lists only 0.30, 0.50" in msg
    cfg["sweeps"]["main"]["ratios"] = "all"  # main makes every ratio: the budget sweep's are a subset
    plan.check(cfg)


def test_two_sweeps_may_not_ask_one_run_under_the_same_other_budget():
    cfg = _tiny()
    cfg["sweeps"]["budget2"] = {**cfg["sweeps"]["budget"], "scorers": ["el2n"]}
    with pytest.raises(plan.ConfigError, match="sweeps.budget and sweeps.budget2 both retrain el2n"):
        plan.check(cfg)
    cfg["sweeps"]["budget2"]["budgets"] = ["epochs", "x2"]  # another budget: its own job
    plan.check(cfg)


def test_retrain_takes_one_keys_object_per_run():
    import argparse

    from prunebench.cli import _keys_arg
    from prunebench.retrain import retrain_many

    assert _keys_arg('[{"scorer": "a"}, {"scorer": "b"}]') == [{"scorer": "a"}, {"scorer": "b"}]
    with pytest.raises(argparse.ArgumentTypeError, match="one per run"):
        _keys_arg('[1, 2]')
    with pytest.raises(ValueError, match="--keys when a list"):
        retrain_many("data", "labels.npz", ["a.npy"], ["a.json"], "cnn_small", {}, [0], [{}, {}])

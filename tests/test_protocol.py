"""Method protocols: the per-class strategies, the recorder's eval pass, gradient clipping, best-epoch
accuracy, the registry's protocols, the uniform protocol's plan, and the protocol study's table."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from prunebench import plan
from prunebench.scorers import SCORERS, list_scorers, protocol_markdown
from prunebench.scorers.base import SELECTIONS
from prunebench.select import class_equal_quotas, select, water_fill
from prunebench.studies.protocol import protocol_frame
from prunebench.train import Recipe, fit, set_determinism
from prunebench.train.surrogate import checkpoint_steps

ROOT = Path(__file__).resolve().parents[1]


# --- per-class strategies -------------------------------------------------------------------------

def test_classeq_takes_equal_quotas_within_each_class():
    y = np.array([0] * 6 + [1] * 6 + [2] * 6)
    s = np.arange(18, dtype=float)[::-1]  # class 0 holds the highest scores
    kept = select(s, "high", 0.5, "classeq", y=y)
    np.testing.assert_array_equal(np.bincount(y[kept]), [3, 3, 3])
    np.testing.assert_array_equal(kept, [0, 1, 2, 6, 7, 8, 12, 13, 14])  # the top 3 of each class
    assert set(select(s, "high", 0.5, "keep", y=y)) == set(range(9))  # global top-k empties class 2


def test_classeq_keeps_a_small_class_whole_and_shares_the_rest():
    y = np.array([0] * 2 + [1] * 10 + [2] * 10)
    kept = select(np.random.default_rng(0).random(22), "high", 0.5, "classeq", y=y)  # keep 11
    np.testing.assert_array_equal(np.bincount(y[kept]), [2, 4, 5])
    assert class_equal_quotas(y, 11) == {0: 2, 1: 4, 2: 5}


def test_classeq_negative_in_class_scores_are_not_beaten_by_other_classes():
    # the release's nopt2 multiplies other classes' scores by 0: a negative in-class score loses to those
    # zeros. Here each class's quota comes from its own ranking whatever the sign.
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([-3.0, -1.0, -2.0, 5.0, 0.0, 4.0])
    kept = select(s, "high", 1 / 3, "classeq", y=y)
    np.testing.assert_array_equal(kept, [1, 2, 3, 5])
    kept_low = select(s, "low", 1 / 3, "classeq", y=y)
    np.testing.assert_array_equal(kept_low, [0, 2, 4, 5])


def test_classbal_is_proportional_and_classeq_is_equal_on_imbalanced_classes():
    y = np.array([0] * 30 + [1] * 10)
    s = np.random.default_rng(1).random(40)
    np.testing.assert_array_equal(np.bincount(y[select(s, "high", 0.5, "classbal", y=y)]), [15, 5])
    np.testing.assert_array_equal(np.bincount(y[select(s, "high", 0.5, "classeq", y=y)]), [10, 10])


def test_water_fill_by_hand():
    np.testing.assert_array_equal(water_fill([30, 2, 10], 12), [5, 2, 5])
    np.testing.assert_array_equal(water_fill([5, 5, 5], 14), [4, 5, 5])
    with pytest.raises(ValueError, match="cannot keep"):
        water_fill([1, 2], 4)


# --- the recorder's eval pass, clipping ---------------------------------------------------------

def _bn_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))


def _images(n=21):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, n)


def test_eval_pass_reads_eval_mode_unaugmented_before_each_update_and_leaves_training_alone():
    x, y = _images()
    rec = Recipe(epochs=2, batch_size=8, lr=0.1, momentum=0.0, weight_decay=0.0, schedule="constant",
                 augment="crop_flip")
    seen = []

    def spy(step, epoch, lr, state):  # the parameters θ_k before every update k
        seen.append(state)

    set_determinism(0)
    m1 = _bn_model()
    r1 = fit(m1, x, y, rec, 3, torch.device("cpu"), record=True, record_eval=True, progress=False,
             checkpoint_steps=range(6), on_checkpoint=spy)
    set_determinism(0)
    m2 = _bn_model()
    r2 = fit(m2, x, y, rec, 3, torch.device("cpu"), record=True, progress=False)
    for k, v in m1.state_dict().items():  # the eval pass changes no parameter and no BatchNorm statistic
        assert torch.equal(v, m2.state_dict()[k]), k
    np.testing.assert_array_equal(r1.dynamics["prob"], r2.dynamics["prob"])
    assert "eval_prob" not in r2.dynamics
    # by hand: the eval-mode probability of the un-augmented image under θ_k, k = the sample's update
    gen = torch.Generator().manual_seed(3)
    probe = _bn_model()
    step = 0
    for e in range(2):
        perm = torch.randperm(21, generator=gen)
        for b in range(3):
            idx = perm[b * 8 : (b + 1) * 8]
            probe.load_state_dict(seen[step])
            probe.eval()
            with torch.no_grad():
                p = torch.softmax(probe(torch.as_tensor(x[idx])), 1)
            want = p[torch.arange(len(idx)), torch.as_tensor(y[idx])].numpy()
            np.testing.assert_allclose(r1.dynamics["eval_prob"][e, idx.numpy()], want, atol=1e-6)
            # the augmentation draws of this batch (they follow the permutation in the generator)
            torch.randint(0, 3, (len(idx),), generator=gen)
            torch.randint(0, 3, (len(idx),), generator=gen)
            torch.rand(len(idx), generator=gen)
            step += 1
    assert not np.allclose(r1.dynamics["eval_prob"], r1.dynamics["prob"])  # augmented train mode differs


def test_pmargin_is_the_probability_margin():
    x, y = _images()
    rec = Recipe(epochs=1, batch_size=21, lr=0.0, momentum=0.0, weight_decay=0.0, schedule="constant")
    set_determinism(0)
    m = _bn_model()
    r = fit(m, x, y, rec, 0, torch.device("cpu"), record=True, progress=False)
    set_determinism(0)
    m0 = _bn_model()
    m0.train()
    with torch.no_grad():
        p = torch.softmax(m0(torch.as_tensor(x)), 1).numpy()
    other = np.where(np.eye(3, dtype=bool)[y], -np.inf, p).max(1)
    np.testing.assert_allclose(r.dynamics["pmargin"][0], p[np.arange(21), y] - other, atol=1e-6)


def test_clip_grad_norm_bounds_every_update():
    x, y = _images()
    big = Recipe(epochs=1, batch_size=21, lr=1.0, momentum=0.0, weight_decay=0.0, schedule="constant")
    clip = Recipe(**{**big.to_dict(), "clip_grad_norm": 0.01})
    deltas = []
    for rec in (big, clip):
        set_determinism(0)
        m = _bn_model()
        before = torch.cat([p.detach().flatten().clone() for p in m.parameters()])
        fit(m, x, y, rec, 0, torch.device("cpu"), progress=False)
        deltas.append(float((torch.cat([p.detach().flatten() for p in m.parameters()]) - before).norm()))
    assert deltas[1] == pytest.approx(0.01, rel=1e-4) and deltas[0] > 0.05


def test_epoch_random_checkpoints_are_seeded_epoch_ends():
    a = checkpoint_steps(80, 3, "epoch_random", seed=1, steps_per_epoch=10)
    assert a == checkpoint_steps(80, 3, "epoch_random", seed=1, steps_per_epoch=10)
    assert len(a) == 3 and all(s % 10 == 0 and 10 <= s <= 70 for s in a)
    assert {tuple(checkpoint_steps(80, 3, "epoch_random", seed=k, steps_per_epoch=10)) for k in range(6)} != {tuple(a)}
    with pytest.raises(ValueError, match="epoch ends"):
        checkpoint_steps(80, 8, "epoch_random", seed=1, steps_per_epoch=10)


def test_retrain_records_the_best_and_the_final_epoch(tmp_path, tiny_surrogate):
    from prunebench import io
    from prunebench.retrain import retrain_many

    data, labels, _ = tiny_surrogate
    sub = tmp_path / "s.npy"
    io.save_npy(sub, np.arange(0, 1347, 3, dtype=np.int64))
    out = tmp_path / "r.json"
    rec = {"epochs": 3, "batch_size": 64, "lr": 0.05, "clip_grad_norm": 1.0}
    r = retrain_many(data, labels, [sub], [out], "cnn_small", rec, [0], {}, "cpu", progress=False)[0]
    assert len(r["test_accuracy_curve"]) == 3 and r["test_accuracy_curve"][-1] == r["test_accuracy"]
    assert r["test_accuracy_best"] == max(r["test_accuracy_curve"]) >= r["test_accuracy"]
    assert r["curve_epochs"] == [1, 2, 3] and r["test_accuracy_curve"][r["best_epoch"] - 1] == r["test_accuracy_best"]
    r = retrain_many(data, labels, [sub], [out], "cnn_small", {**rec, "epochs": 2}, [0], {}, "cpu", budget="steps",
                     progress=False)[0]  # 449 of 1347 images, full-data steps: 6 short epochs, tested every 3rd
    assert r["epochs"] == 6 and r["curve_epochs"] == [3, 6]


def test_curve_every():
    from prunebench.retrain import curve_every

    assert [curve_every(e, 8) for e in (8, 9, 16, 27)] == [1, 2, 2, 4] and curve_every(3, 8) == 1


# --- the registry's protocols, the README's table --------------------------------------------------

def test_every_scorer_declares_its_authors_protocol():
    for s in list_scorers():
        p = s.protocol
        assert p.release and p.selection in SELECTIONS, s.name
        # a release file, or the reason no release is read
        assert re.search(r"[\w-]+/[\w.-]+", p.release) or p.release.startswith(("paper only", "no release")), s.name
        assert s.strategy == ("solver" if s.kind == "solver" else p.selection)
        assert {**s.defaults, **p.params} == s.defaults  # the release's values are the defaults
        assert set(p.uniform) <= set(s.defaults)
    assert SCORERS.get("moso").strategy == "classeq" and SCORERS.get("dynunc").defaults["view"] == "eval"


def test_readme_protocol_markdown_is_the_registrys():
    readme = (ROOT / "README.md").read_text()
    assert protocol_markdown() in readme, "README's protocol table is stale: paste `prunebench list-scorers --protocols`"


# --- the uniform protocol in the plan ---------------------------------------------------------------

def _default_cfg():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_uniform_protocol_pairs_and_derived_scorers():
    cfg = _default_cfg()
    specs = plan.check(cfg, 1347)
    pairs = {(m, p): (sc, st) for m, p, sc, st in plan.protocol_pairs(cfg, specs, cfg["sweeps"]["main"])}
    assert pairs[("moso", "release")] == ("moso", "classeq") and pairs[("moso", "uniform")] == ("moso", "keep")
    assert pairs[("dynunc", "uniform")] == ("dynunc-uniform", "keep")
    assert specs["dynunc-uniform"].params["view"] == "train" and specs["dynunc"].params["view"] == "eval"
    assert specs["dynunc-uniform"].uniform_of == "dynunc" and not specs["dynunc-uniform"].ablation
    assert "dynunc-uniform" not in plan.sweep_scorers({"scorers": "all"}, specs)  # not an ablation variant either
    assert ("optprune", "uniform") not in pairs  # a solver writes its own subsets
    settings = {(s["scorer"], s["strategy"]) for s in plan.retrain_settings(cfg, specs)}
    assert {("random", "classbal"), ("random", "keep"), ("dynunc-uniform", "keep")} <= settings


def test_registry_checks_run_at_plan_time():
    cfg = _default_cfg()
    cfg["scorers"]["el2n"] = {"params": {"epoch": 2}}  # read at its checkpoint: epoch 2 is not saved
    with pytest.raises(plan.ConfigError, match="save_epochs"):
        plan.check(cfg, 1347)
    cfg = _default_cfg()
    cfg["surrogate"]["eval_pass"] = False
    with pytest.raises(plan.ConfigError, match="eval_pass"):
        plan.check(cfg, 1347)


# --- the protocol study's table ---------------------------------------------------------------------

def test_protocol_frame_pairs_by_seed_and_compares_each_protocol_with_its_random():
    rows = []
    acc = {("random", "classbal"): [0.80, 0.81, 0.82], ("random", "keep"): [0.79, 0.80, 0.81],
           ("moso", "classeq"): [0.90, 0.91, 0.92], ("moso", "keep"): [0.50, 0.40, 0.60]}
    for (sc, st), a in acc.items():
        for seed, v in enumerate(a):
            rows.append({"dataset": "d", "noise": "clean", "arch": "a", "target": "a", "ratio": 0.5,
                         "scorer": sc, "strategy": st, "seed": seed, "accuracy": v,
                         "empty_classes": 2 if (sc, st) == ("moso", "keep") else 0})
    pairs = [["random", "release", "random", "classbal"], ["random", "uniform", "random", "keep"],
             ["moso", "release", "moso", "classeq"], ["moso", "uniform", "moso", "keep"]]
    t = protocol_frame(pd.DataFrame(rows), pairs).set_index("method")
    m = t.loc["moso"]
    assert m["diff"] == pytest.approx(np.mean([0.40, 0.51, 0.32]))
    assert m["gain_release"] == pytest.approx(0.10) and m["gain_uniform"] == pytest.approx(np.mean([-0.29, -0.40, -0.21]))
    assert m["empty_classes_uniform"] == 2 and m["empty_classes_release"] == 0
    assert m["release"] == "moso+classeq" and m["uniform"] == "moso"
    assert math.isnan(t.loc["random", "gain_release"])


def test_protocol_figure_renders(tmp_path):
    from prunebench.studies.protocol import plot_protocol

    df = pd.DataFrame([{"dataset": "d", "noise": "clean", "arch": "a", "target": "a", "ratio": 0.5,
                        "method": "moso", "gain_release": 0.1, "gain_uniform": -0.3, "p_holm_release": 0.01,
                        "p_holm_uniform": 0.2, "empty_classes_release": 0, "empty_classes_uniform": 1}])
    plot_protocol(df, tmp_path / "p.pdf", tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


# --- the convergence check (issue: verdicts from a converged regime) ----------------------------------

def _saturating(t, a=0.95, b=0.5, tau=4.0):
    """A synthetic learning curve: accuracy a − b·exp(−t/τ) after t epochs."""
    return a - b * math.exp(-t / tau)


@pytest.mark.parametrize("epochs,label", [(4, "not converged"), (8, "not converged"), (24, "converged"),
                                          (40, "converged")])
def test_convergence_rule_on_synthetic_curves(epochs, label):
    from prunebench.studies.convergence import regime

    seeds_short = [_saturating(epochs) + d for d in (-0.002, 0.0, 0.002)]
    seeds_long = [_saturating(2 * epochs) + d for d in (-0.002, 0.0, 0.002)]
    gain, got = regime(seeds_short, seeds_long)
    assert got == label and gain == pytest.approx(_saturating(2 * epochs) - _saturating(epochs))


def test_convergence_frame_and_warning():
    from prunebench.studies.convergence import add_regime, convergence_frame, warnings

    def r(noise, seed, epochs, acc):
        return {"dataset": "d", "noise": noise, "target": "cnn", "seed": seed, "epochs": epochs,
                "test_accuracy": acc}

    short = [r("clean", s, 8, 0.90 + 0.001 * s) for s in range(3)] + [r("sym20", s, 8, 0.80) for s in range(3)]
    long = [r("clean", s, 16, 0.905) for s in range(3)] + [r("sym20", s, 16, 0.83) for s in range(3)]
    t = convergence_frame(short, long).set_index("noise")
    assert t.loc["clean", "regime"] == "converged" and t.loc["sym20", "regime"] == "not converged"
    assert t.loc["sym20", "gain"] == pytest.approx(0.03)
    (line,) = warnings(t.reset_index())
    assert "d/sym20/cnn" in line and "+3.0 points" in line and "8 to 16 epochs" in line
    df = pd.DataFrame([{"dataset": "d", "noise": "sym20", "target": "cnn"}, {"dataset": "e", "noise": "clean",
                                                                             "target": "cnn"}])
    assert add_regime(df, t.reset_index())["regime"].tolist() == ["not converged", "unchecked"]


def test_budget_multiples():
    from prunebench.retrain import budget_recipe, parse_budget

    assert parse_budget("x2") == ("epochs", 2.0) and parse_budget("steps") == ("steps", 1.0)
    assert budget_recipe(Recipe(epochs=8, batch_size=10), "x2", 100).epochs == 16
    assert budget_recipe(Recipe(epochs=8, batch_size=10), "steps", 100).max_steps == 80
    for bad in ("x0", "x-1", "twice", "xx"):
        with pytest.raises(ValueError, match="budget"):
            parse_budget(bad)

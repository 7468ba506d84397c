"""Training core (dynamics recorder, checkpoints), the foundation scorers, selection, score files."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from prunebench import io, scorefile
from prunebench.scorers.dynamics import dynamic_uncertainty, el2n_from_dynamics, forgetting_counts
from prunebench.select import class_quotas, n_removed, select
from prunebench.train import Recipe, fit, set_determinism


def _tiny():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 1, 2, 2, generator=g).numpy()
    y = (torch.arange(37) % 3).numpy()
    return x, y


def _model():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


def test_recorder_matches_a_hand_rolled_loop():
    x, y = _tiny()
    rec = Recipe(epochs=3, batch_size=8, lr=0.1, momentum=0.0, weight_decay=0.0, schedule="constant")
    set_determinism(0)
    m1 = _model()
    res = fit(m1, x, y, rec, seed=5, device=torch.device("cpu"), record=True, progress=False)
    # the hand-rolled loop: same shuffling generator, plain SGD, per-sample quantities from the batch forward
    m2 = _model()
    opt = torch.optim.SGD(m2.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(5)
    prob = np.zeros((3, 37))
    margin = np.zeros((3, 37))
    loss = np.zeros((3, 37))
    pred = np.zeros((3, 37), int)
    for e in range(3):
        perm = torch.randperm(37, generator=gen)
        for b in range(math.ceil(37 / 8)):
            idx = perm[b * 8 : (b + 1) * 8]
            logits = m2(torch.as_tensor(x[idx]))
            yb = torch.as_tensor(y[idx]).long()
            for j, i in enumerate(idx.tolist()):
                p = torch.softmax(logits[j].detach(), 0)
                prob[e, i] = p[y[i]]
                others = [logits[j, k].item() for k in range(3) if k != y[i]]
                margin[e, i] = logits[j, y[i]].item() - max(others)
                loss[e, i] = -math.log(p[y[i]].item())
                pred[e, i] = int(p.argmax())
            opt.zero_grad()
            F.cross_entropy(logits, yb).backward()
            opt.step()
    d = res.dynamics
    np.testing.assert_allclose(d["prob"], prob, atol=1e-6)
    np.testing.assert_allclose(d["margin"], margin, atol=1e-5)
    np.testing.assert_allclose(d["loss"], loss, atol=1e-5)
    np.testing.assert_array_equal(d["pred"], pred)
    assert res.steps == 3 * 5


def test_checkpoints_hold_params_before_the_update_and_its_lr():
    x, y = _tiny()
    rec = Recipe(epochs=2, batch_size=8, lr=0.2, momentum=0.0, weight_decay=0.0, schedule="cosine")
    seen = {}
    m = _model()
    w0 = m[1].weight.detach().clone()
    fit(m, x, y, rec, seed=0, device=torch.device("cpu"), checkpoint_steps=[0, 9],
        on_checkpoint=lambda k, e, lr, sd: seen.update({k: (e, lr, sd)}), progress=False)
    assert set(seen) == {0, 9}
    assert seen[0][1] == pytest.approx(0.2) and seen[0][0] == 0
    total = 10
    assert seen[9][1] == pytest.approx(0.5 * 0.2 * (1 + math.cos(math.pi * 9 / total)))
    assert seen[9][0] == 1
    torch.testing.assert_close(seen[0][2]["1.weight"], w0)


def test_recipe_schedules_and_budget():
    r = Recipe(epochs=4, batch_size=10, lr=1.0, schedule="step")
    assert r.total_steps(95) == 40
    assert [r.lr_at(s, 40) for s in (0, 19, 20, 29, 30)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    r.max_steps = 7
    assert r.total_steps(95) == 7
    with pytest.raises(ValueError, match="unknown training keys"):
        Recipe.from_dict({"epochs": 2, "lr_typo": 1})


def test_surrogate_run_contract(tiny_surrogate):
    from prunebench.train.surrogate import SurrogateRun

    data, labels, run = tiny_surrogate
    r = SurrogateRun(run)
    n = r.meta["n"]
    for k in ("prob", "pred", "loss", "margin", "el2n"):
        assert r.dynamics[k].shape == (4, n)
    assert np.all((r.dynamics["prob"] > 0) & (r.dynamics["prob"] <= 1))
    cps = r.sampled_checkpoints()
    assert len(cps) == 4  # T=4 sampled evenly over the 44 steps
    assert all((run / c["path"]).exists() and c["lr"] > 0 for c in cps)
    assert r.epoch_checkpoint(2)["step"] == 2 * r.meta["steps_per_epoch"]
    assert [c["step"] for c in r.sampled_checkpoints(2)] == [cps[0]["step"], cps[-1]["step"]]
    with pytest.raises(ValueError, match="raise surrogate.T"):
        r.sampled_checkpoints(9)
    m = r.load_model()
    assert sum(p.numel() for p in m.parameters()) > 0


# --- foundation scorers, against hand-computed values -------------------------

def test_el2n_picks_the_epoch():
    el2n = np.array([[0.1, 0.9], [0.3, 0.2]], np.float32)
    np.testing.assert_allclose(el2n_from_dynamics(el2n, 2), [0.3, 0.2], rtol=1e-6)
    with pytest.raises(ValueError):
        el2n_from_dynamics(el2n, 3)


def test_forgetting_counts_by_hand():
    # sample 0: 1,0,1,0 → 2 events; sample 1: 0,1,1,1 → 0; sample 2: never correct → epochs+1 = 5
    correct = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]], bool)
    np.testing.assert_array_equal(forgetting_counts(correct), [2, 0, 5])
    np.testing.assert_array_equal(forgetting_counts(correct, "zero"), [2, 0, 0])


def test_dynunc_by_hand():
    # one sample, probabilities over 5 epochs; drop_last removes epoch 5; J = 2 windows:
    p = np.array([[0.2], [0.4], [0.4], [0.8], [0.99]])
    # windows (0.2,0.4) std 0.1; (0.4,0.4) 0; (0.4,0.8) 0.2 → mean 0.1
    np.testing.assert_allclose(dynamic_uncertainty(p, 2), [0.1])
    # without dropping: + window (0.8,0.99) std 0.095 → mean (0.1+0+0.2+0.095)/4
    np.testing.assert_allclose(dynamic_uncertainty(p, 2, drop_last=False), [(0.1 + 0 + 0.2 + 0.095) / 4])
    with pytest.raises(ValueError, match="window"):
        dynamic_uncertainty(p, 5)


# --- selection ------------------------------------------------------------------

def test_selection_sizes_and_directions():
    s = np.array([5.0, 1.0, 3.0, 4.0, 2.0, 0.0, 6.0])
    np.testing.assert_array_equal(select(s, "high", 3 / 7), [0, 2, 3, 6])
    np.testing.assert_array_equal(select(s, "low", 3 / 7), [1, 2, 4, 5])
    assert len(select(s, "high", 0.0)) == 7
    assert n_removed(10, 0.25) == 3 and n_removed(10, 0.24) == 2  # floor(ratio·n + 0.5)
    for r in (0.1, 0.3, 0.5, 0.9):
        assert len(select(np.arange(1000.0), "high", r)) == 1000 - int(np.floor(r * 1000 + 0.5))
    with pytest.raises(ValueError):
        select(s, "high", 1.0)


def test_ties_are_broken_by_index():
    s = np.zeros(6)
    np.testing.assert_array_equal(select(s, "high", 0.5), [0, 1, 2])
    np.testing.assert_array_equal(select(s, "low", 0.5), [0, 1, 2])


def test_class_balanced_quotas_largest_remainder():
    y = np.array([0] * 5 + [1] * 3 + [2] * 2)
    # keep 5 of 10: exact 2.5, 1.5, 1.0 → floors 2,1,1 (=4), the remaining 1 goes to class 0 (tie → lower class)
    assert class_quotas(y, 5) == {0: 3, 1: 1, 2: 1}
    scores = np.arange(10.0)  # class 0 has the lowest scores
    kept = select(scores, "high", 0.5, "classbal", y=y)
    np.testing.assert_array_equal(kept, [2, 3, 4, 7, 9])
    assert np.array_equal(select(scores, "high", 0.5), [5, 6, 7, 8, 9])


# --- score files -------------------------------------------------------------------

def test_score_file_roundtrip_and_errors(tmp_path):
    p = tmp_path / "seed0.csv"
    scorefile.write(p, np.array([0.5, 1.5, -2.0]), "m", "high", {"a": 1}, "abc")
    s, meta = scorefile.read(p, n=3, dataset_sha256="abc")
    np.testing.assert_array_equal(s, [0.5, 1.5, -2.0])
    assert meta["keep"] == "high" and meta["params"] == {"a": 1}
    with pytest.raises(scorefile.ScoreFileError, match="3 rows, expected 4"):
        scorefile.read(p, n=4)
    with pytest.raises(scorefile.ScoreFileError, match="dataset_sha256"):
        scorefile.read(p, n=3, dataset_sha256="other")
    p.write_text("index,score\n0,1\n1,1.5\n2,-2.0\n")  # a valid file, other bytes than the meta records
    with pytest.raises(scorefile.ScoreFileError, match=r"seed0\.csv: sha256 .* differs from the .* recorded in"):
        scorefile.read(p, n=3)
    # an external program's meta records no sha256: its file is checked for content only
    meta = io.read_json(scorefile.meta_path(p))
    del meta["sha256"]
    scorefile.meta_path(p).write_text(json.dumps(meta))
    p.write_text("index,score\n0,1\n1,nan\n2,3\n")
    with pytest.raises(scorefile.ScoreFileError, match="NaN/inf"):
        scorefile.read(p, n=3)
    p.write_text("index,score\n0,1\n1,2\n1,3\n")
    with pytest.raises(scorefile.ScoreFileError, match="duplicate"):
        scorefile.read(p, n=3)
    p.write_text("index,score\n2,1\n0,2\n1,3\n")  # any row order is fine
    np.testing.assert_array_equal(scorefile.read(p, n=3)[0], [2, 3, 1])
    meta_file = tmp_path / "seed0.meta.json"
    io.write_json(meta_file, {"method": "m", "keep": "high"})
    with pytest.raises(scorefile.ScoreFileError, match="params, dataset_sha256, version"):
        scorefile.read(p, n=3)
    meta_file.unlink()
    with pytest.raises(scorefile.ScoreFileError, match="meta file"):
        scorefile.read(p, n=3)
    with pytest.raises(ValueError, match="non-finite"):
        scorefile.write(p, np.array([1.0, np.inf]), "m", "high", {}, "x")


def test_evaluate_reports_per_class_accuracy():
    """A model that always answers class 0: class 0 fully right, the others wrong, mean = accuracy."""
    import torch

    from prunebench.train import evaluate

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    x = np.zeros((7, 1, 2, 2), np.float32)
    y = np.array([0, 0, 0, 1, 1, 2, 2])
    ev = evaluate(model, x, y, torch.device("cpu"))
    assert ev["class_accuracy"] == [1.0, 0.0, 0.0] and ev["accuracy"] == pytest.approx(3 / 7)


def test_sgd_without_the_dynamo_import_is_torchs_update_bit_for_bit():
    """The training loop's SGD runs torch's step body without the wrapper that imports torch._dynamo
    (1.1–1.5 s per process): the same parameters as torch.optim.SGD, and no torch._dynamo import."""
    import subprocess
    import sys

    from prunebench.train.loop import _make_optimizer

    x, y = _tiny()
    for nesterov in (False, True):
        rec = Recipe(epochs=1, batch_size=8, lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=5e-4)
        models = [_model(), _model()]
        opts = [_make_optimizer(models[0], rec),
                torch.optim.SGD(models[1].parameters(), lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=5e-4)]
        assert type(opts[0]) is not torch.optim.SGD
        for _ in range(5):
            for m, o in zip(models, opts):
                o.zero_grad()
                F.cross_entropy(m(torch.as_tensor(x)), torch.as_tensor(y).long()).backward()
                o.step()
        for a, b in zip(models[0].parameters(), models[1].parameters()):
            assert torch.equal(a, b)
    code = ("import sys, numpy as np, torch; from prunebench.train import Recipe, fit, set_determinism; "
            "set_determinism(0); m = torch.nn.Linear(4, 3); "
            "fit(m, np.random.rand(20, 4).astype('float32'), np.arange(20) % 3, Recipe(epochs=2, batch_size=8), 0, "
            "torch.device('cpu'), progress=False); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

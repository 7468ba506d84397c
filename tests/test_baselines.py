"""Baseline scorers (GraNd, AUM, uncertainty, static uncertainty) and the geometry
scorers (k-center, herding, Moderate): hand-computed cases and independent
re-computations written here (autograd loops, scipy, brute-force greedy loops)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import entropy as scipy_entropy

from prunebench import io
from prunebench.models import build_model, head
from prunebench.numeric import error_l2
from prunebench.scorers import get_scorer
from prunebench.scorers.baselines import (
    area_under_margin,
    entropy_scores,
    grand_last_layer,
    least_confidence_scores,
    logits_and_features,
    margin_scores,
    static_uncertainty,
)
from prunebench.scorers.geometry import (
    class_median_distance,
    herding_order,
    kcenter_greedy_order,
    moderate_scores,
    order_to_scores,
)
from prunebench.select import select
from prunebench.train.surrogate import SurrogateRun

# --- closed forms vs hand values / scipy -------------------------------------------


def test_error_l2_hand():
    p = np.array([[0.5, 0.5], [0.1, 0.9]])
    np.testing.assert_allclose(error_l2(p, np.array([0, 1])), [math.sqrt(0.5), math.sqrt(0.02)])


def test_entropy_hand_and_scipy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20, 7)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(entropy_scores(logits), scipy_entropy(p, axis=1), rtol=1e-12)
    np.testing.assert_allclose(entropy_scores(np.zeros((1, 4))), [math.log(4)])
    # a one-hot prediction has (numerically) zero entropy, no NaN from 0·log 0
    assert entropy_scores(np.array([[0.0, -1e4]]))[0] == pytest.approx(0.0, abs=1e-12)


def test_least_confidence_and_margin_hand():
    np.testing.assert_allclose(least_confidence_scores(np.log(np.array([[0.25, 0.75]]))), [0.25])
    three = np.log(np.array([[0.2, 0.5, 0.3]]))
    np.testing.assert_allclose(least_confidence_scores(three), [0.5])
    np.testing.assert_allclose(margin_scores(three), [0.2])
    np.testing.assert_allclose(margin_scores(np.log(np.array([[0.25, 0.75]]))), [0.5])


def test_uncertainty_keeps_the_uncertain():
    """With keep-direction selection, every uncertainty scorer keeps the uniform prediction."""
    logits = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.1, 0.0, 0.05]])
    ctx = SimpleNamespace(logits=lambda *a, **k: logits)
    for name in ("entropy", "least_confidence", "margin"):
        info = get_scorer(name)
        kept = select(info.fn(ctx), info.keep, 0.5)
        assert set(kept.tolist()) == {0, 3}, name


def test_aum_hand():
    m = np.array([[1.0, -2.0], [3.0, -1.0], [5.0, 0.0]])
    np.testing.assert_allclose(area_under_margin(m), [3.0, -1.0])
    np.testing.assert_allclose(area_under_margin(m, epochs=2), [2.0, -1.5])
    with pytest.raises(ValueError):
        area_under_margin(m, epochs=4)
    info = get_scorer("aum")
    assert info.keep == "low"
    dyn = {"margin": m, "pmargin": m / 10}
    ctx = SimpleNamespace(dynamics=lambda key, view="train", run=None: dyn[key])
    np.testing.assert_allclose(info.fn(ctx), [3.0, -1.0])
    np.testing.assert_allclose(info.fn(ctx, form="prob"), [0.3, -0.1])  # CCS's probability margins


def test_static_uncertainty_hand():
    prob = np.array([[0.1, 0.5], [0.3, 0.5], [0.5, 0.5], [0.9, 0.0]])
    np.testing.assert_allclose(static_uncertainty(prob), [math.sqrt(0.08 / 3), 0.0])
    np.testing.assert_allclose(static_uncertainty(prob, drop_last=False)[1], np.std([0.5, 0.5, 0.5, 0.0]))


# --- GraNd vs autograd --------------------------------------------------------------


def _autograd_norms(model, x, y, params) -> np.ndarray:
    """Per-sample gradient norm over ``params``, one backward per sample (the oracle)."""
    model.eval()
    out = []
    for i in range(len(y)):
        loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
        g = torch.autograd.grad(loss, params)
        out.append(math.sqrt(sum(float((t.double() ** 2).sum()) for t in g)))
    return np.array(out)


@pytest.mark.parametrize("bias", [True, False])
def test_grand_last_layer_vs_autograd_linear(bias):
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 4, bias=bias).double()
    h = torch.randn(9, 5, dtype=torch.float64)
    y = torch.randint(0, 4, (9,))
    params = [lin.weight] + ([lin.bias] if bias else [])
    want = _autograd_norms(lin, h, y, params)
    got = grand_last_layer(lin(h).detach().numpy(), h.numpy(), y.numpy(), bias=bias)
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("arch,kw", [("cnn_small", {}), ("resnet_small", {}), ("timm-test_vit", {"patch_size": 2})])
def test_logits_and_features_match_model(arch, kw):
    """The head applied to embed() reproduces the model's logits, and the closed form
    equals autograd on the head's parameters of the whole model."""
    torch.manual_seed(1)
    model = build_model(arch, (1, 8, 8), 3, **kw)
    x = np.random.default_rng(0).random((6, 1, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    logits, feats, bias = logits_and_features(model, x, "cpu", None, chunk_size=4)
    with torch.no_grad():
        direct = model.eval()(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(logits, direct, rtol=1e-5, atol=1e-5)
    fc = head(model)
    want = _autograd_norms(model, torch.as_tensor(x), torch.as_tensor(y), [fc.weight, fc.bias])
    np.testing.assert_allclose(grand_last_layer(logits, feats, y, bias), want, rtol=1e-4)


def _fake_run(path, arch, seed, num_classes=3, in_shape=(1, 8, 8)):
    """A surrogate-run directory with one end-of-epoch-2 checkpoint of random weights."""
    torch.manual_seed(seed)
    model = build_model(arch, in_shape, num_classes)
    io.torch_save(path / "checkpoints/step10.pt", {"step": 10, "epoch": 2, "lr": 0.1,
                                                    "state_dict": model.state_dict()})
    io.torch_save(path / "model.pt", model.state_dict())
    io.write_json(path / "surrogate.json", {
        "arch": arch, "model_kw": {}, "n": 0, "steps_per_epoch": 5, "in_shape": list(in_shape),
        "num_classes": num_classes, "norm": {"mean": [0.5], "std": [0.25]},
        "checkpoints": [{"step": 10, "epoch": 2, "lr": 0.1, "path": "checkpoints/step10.pt",
                         "sampled": False, "epoch_end": True}]})
    return model


@pytest.mark.parametrize("full", [False, True])
def test_grand_scorer_averages_runs(tmp_path, full):
    x = np.random.default_rng(2).random((7, 1, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 2, 1, 0, 1])
    runs, want = [], []
    for seed in (0, 1):
        model = _fake_run(tmp_path / f"s{seed}", "cnn_small", seed)
        xt = (torch.as_tensor(x) - 0.5) / 0.25
        params = [head(model).weight, head(model).bias] if not full else list(model.parameters())
        want.append(_autograd_norms(model, xt, torch.as_tensor(y), params))
        runs.append(SurrogateRun(tmp_path / f"s{seed}"))
    ctx = SimpleNamespace(surrogates=runs, x=x, y=y, device=torch.device("cpu"), chunk_size=4)
    got = get_scorer("grand").fn(ctx, epoch=2, full=full)
    np.testing.assert_allclose(got, np.mean(want, axis=0), rtol=1e-4)
    with pytest.raises(FileNotFoundError):
        get_scorer("grand").fn(ctx, epoch=1)


# --- k-center greedy ------------------------------------------------------------------


def _brute_kcenter(f, start):
    n = len(f)
    chosen = [start]
    while len(chosen) < n:
        best, best_d = None, -1.0
        for i in range(n):
            if i in chosen:
                continue
            d = min(math.dist(f[i], f[j]) for j in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


def test_order_to_scores_hand():
    np.testing.assert_array_equal(order_to_scores(np.array([2, 0, 1]), 3), [2.0, 1.0, 3.0])


def test_kcenter_matches_brute_force():
    f = np.random.default_rng(3).normal(size=(30, 4)).astype(np.float32)
    want = _brute_kcenter(f.astype(np.float64), 7)
    np.testing.assert_array_equal(kcenter_greedy_order(f, 7), want)


def test_kcenter_budget_orders_rest_by_distance():
    f = np.random.default_rng(4).normal(size=(30, 3)).astype(np.float32)
    k = 8
    got = kcenter_greedy_order(f, 0, budget=k)
    full = _brute_kcenter(f.astype(np.float64), 0)
    np.testing.assert_array_equal(got[:k], full[:k])
    rest = [i for i in range(30) if i not in full[:k]]
    d = {i: min(math.dist(f[i], f[j]) for j in full[:k]) for i in rest}
    np.testing.assert_array_equal(got[k:], sorted(rest, key=lambda i: -d[i]))


def test_kcenter_duplicates_and_line():
    # points on a line: from 0 the farthest is 10, then the midpoint-most (5), then ...
    f = np.array([[0.0], [1.0], [5.0], [10.0], [10.0]], np.float32)
    got = kcenter_greedy_order(f, 0).tolist()
    assert got[:3] == [0, 3, 2] and sorted(got) == [0, 1, 2, 3, 4]


def test_kcenter_scorer_seeded_and_nested():
    f = np.random.default_rng(5).normal(size=(40, 3)).astype(np.float32)

    def ctx(seed):
        return SimpleNamespace(features=lambda *a: f, rng=lambda salt=0: np.random.default_rng([seed, salt]),
                               device="cpu", y=np.arange(40) % 2)

    info = get_scorer("kcenter")
    a, b, c = info.fn(ctx(0)), info.fn(ctx(0)), info.fn(ctx(1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    sets = [set(select(a, info.keep, r).tolist()) for r in (0.9, 0.5, 0.2)]
    assert sets[0] <= sets[1] <= sets[2]
    pc = info.fn(ctx(0), per_class=True)
    for cl in (0, 1):  # one first pick per class, scored 1
        assert (pc[np.arange(40) % 2 == cl] == 1.0).sum() == 1


# --- herding ---------------------------------------------------------------------------


def _naive_herding(f):
    f = [np.asarray(r, np.float64) for r in f]
    mu = sum(f) / len(f)
    left, picked, acc = list(range(len(f))), [], np.zeros_like(mu)
    for t in range(len(f)):
        target = (t + 1) * mu - acc
        best = min(left, key=lambda i: (float(np.sum((target - f[i]) ** 2)), i))
        picked.append(best)
        left.remove(best)
        acc = acc + f[best]
    return picked


def test_herding_hand():
    # μ = 3.25: 2 (closest), then target 4.5 → 1, then 6.75 → 10, then 0
    assert herding_order(np.array([[0.0], [1.0], [2.0], [10.0]], np.float32)).tolist() == [2, 1, 3, 0]


def test_herding_matches_naive_loop():
    f = np.random.default_rng(6).normal(size=(25, 5))
    np.testing.assert_array_equal(herding_order(f, dtype="float64"), _naive_herding(f))
    np.testing.assert_array_equal(herding_order(f.astype(np.float32)), _naive_herding(f.astype(np.float32)))
    # a budget of k picks: the same first k, the rest by the distance that would choose pick k + 1
    full = herding_order(f, dtype="float64")
    for k in (0, 3, len(f) - 1, len(f)):
        part = herding_order(f, dtype="float64", k=k)
        assert sorted(part.tolist()) == list(range(len(f))) and part[:k].tolist() == full[:k].tolist()
        if k < len(f):
            assert part[k] == full[k]  # the next pick is the closest to the next target


def test_herding_scorer_per_class():
    f = np.array([[0.0], [1.0], [2.0], [10.0], [5.0], [7.0]], np.float32)
    y = np.array([0, 0, 0, 0, 1, 1])
    ctx = SimpleNamespace(features=lambda *a: f, device="cpu", y=y)
    s = get_scorer("herding").fn(ctx)
    # class 0 order [2, 1, 3, 0] → 1, 0.75, 0.5, 0.25; class 1 (mean 6: tie → lower index 4 first)
    np.testing.assert_allclose(s, [0.25, 0.75, 1.0, 0.5, 1.0, 0.5])


# --- Moderate ----------------------------------------------------------------------------


def test_class_median_distance_hand():
    f = np.array([[0, 0], [2, 0], [4, 0], [0, 3], [0, 1]], np.float64)
    y = np.array([0, 0, 0, 1, 1])
    # class 0 median (2, 0); class 1 median (0, 2)
    np.testing.assert_allclose(class_median_distance(f, y), [2, 0, 2, 1, 1])
    # class 0 mean (2, 0) too; change a point so median ≠ mean
    f2 = f.copy()
    f2[2] = [10, 0]
    np.testing.assert_allclose(class_median_distance(f2, y, "median")[:3], [2, 0, 8])
    np.testing.assert_allclose(class_median_distance(f2, y, "mean")[:3], [4, 2, 6])


def test_moderate_scores_hand():
    d = np.array([1.0, 2.0, 3.0, 10.0])
    np.testing.assert_allclose(moderate_scores(d, "value"), [-1.5, -0.5, -0.5, -7.5])
    np.testing.assert_allclose(moderate_scores(d, "rank"), [-1.5, -0.5, -0.5, -1.5])


def test_moderate_rank_band_matches_release_rule():
    """The rank band keeps the middle sorted-distance slice [round(n·(0.5−r/2)), round(n·(0.5+r/2)))."""
    d = np.random.default_rng(7).random(10)
    kept = set(select(moderate_scores(d, "rank"), "high", 0.6).tolist())
    srt = np.argsort(d)
    assert kept == set(srt[round(10 * 0.3) : round(10 * 0.7)].tolist())

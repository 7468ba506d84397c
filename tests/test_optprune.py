"""Optimization-based dataset pruning (Yang et al., ICLR 2023, arXiv 2205.09329).

Oracles are written here, independently of the code under test: an itertools brute force
for both discrete programs, an autograd Hessian and per-sample gradients for the
last-layer closed form, a dense autograd Hessian solve for the HVP/CG path, and actual
retraining (the shared exact harness) for the influence estimate of a removed set.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from prunebench.methods.optprune import influence, programs
from prunebench.methods.optprune import solvers as op

# --- independent oracles ---------------------------------------------------------


def _norm(v, norm):
    return {"l2": np.linalg.norm(v), "linf": np.abs(v).max(), "l1": np.abs(v).sum()}[norm]


def _bf_budget(V, m, norm, groups=None, quotas=None):
    best = np.inf
    for comb in itertools.combinations(range(len(V)), m):
        if quotas is not None and any(sum(groups[i] == c for i in comb) != q for c, q in quotas.items()):
            continue
        best = min(best, _norm(V[list(comb)].sum(0) if comb else np.zeros(V.shape[1]), norm))
    return best


def _bf_epsilon(V, eps, norm):
    for size in range(len(V), -1, -1):
        for comb in itertools.combinations(range(len(V)), size):
            if _norm(V[list(comb)].sum(0) if comb else np.zeros(V.shape[1]), norm) <= eps:
                return size
    raise AssertionError("unreachable")


def _instances(count, seed, nmax=11):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(6, nmax + 1))
        P = int(rng.integers(2, 5))
        V = rng.normal(size=(n, P)) * rng.uniform(0.2, 2.0, size=(n, 1))
        yield rng, V


# --- the two programs vs brute force -------------------------------------------------


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_budget_program_matches_brute_force(norm):
    for rng, V in _instances(5, seed={"l2": 1, "linf": 2, "l1": 3}[norm]):
        m = int(rng.integers(1, len(V)))
        want = _bf_budget(V, m, norm)
        for solver in ("auto", "milp"):
            removed, meta = op.solve_budget(V, m, norm=norm, solver=solver, time_limit=30)
            assert len(removed) == m and np.all(np.diff(removed) > 0)
            assert meta["status"] == "optimal"
            assert _norm(V[removed].sum(0), norm) == pytest.approx(want, rel=1e-7, abs=1e-12)
            assert meta["bound"] <= want * (1 + 1e-7) + 1e-12
        removed, _ = programs.brute_force(V, "budget", m=m, norm=norm)
        assert _norm(V[removed].sum(0), norm) == pytest.approx(want, rel=1e-12)
        _, meta = op.solve_budget(V, m, norm=norm, solver="greedy")  # heuristic: feasible, ≥ optimum
        assert meta["objective"] >= want * (1 - 1e-9) and meta["bound"] <= want * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_epsilon_program_matches_brute_force(norm):
    for rng, V in _instances(5, seed={"l2": 4, "linf": 5, "l1": 6}[norm]):
        singles = np.array([_norm(v, norm) for v in V])
        eps = float(np.median(singles) * rng.uniform(0.5, 3.0))
        want = _bf_epsilon(V, eps, norm)
        for solver in ("auto", "milp"):
            removed, meta = op.solve_epsilon(V, eps, norm=norm, solver=solver, time_limit=30)
            assert len(removed) == want and meta["status"] == "optimal"
            assert _norm(V[removed].sum(0), norm) <= eps
            assert meta["bound"] >= want
        removed, meta = op.solve_epsilon(V, eps, norm=norm, solver="greedy")
        assert len(removed) <= want <= meta["bound"] and _norm(V[removed].sum(0), norm) <= eps
        assert programs.brute_force(V, "epsilon", epsilon=eps, norm=norm)[1] == want


def test_stratified_budget_matches_brute_force():
    rng = np.random.default_rng(7)
    V = rng.normal(size=(12, 3))
    y = np.array([0] * 5 + [1] * 4 + [2] * 3)
    m = 6
    quotas = programs.removal_quotas(y, m)
    assert quotas == {0: 2, 1: 2, 2: 2} or sum(quotas.values()) == m
    # keep quotas ∝ sizes by largest remainder: keep 6 of (5, 4, 3) → exact (2.5, 2, 1.5) → (3, 2, 1)
    assert quotas == {0: 2, 1: 2, 2: 2}
    want = _bf_budget(V, m, "l2", y, quotas)
    for solver in ("milp", "greedy"):
        removed, meta = op.solve_budget(V, m, groups=y, stratified=True, solver=solver, time_limit=30)
        assert [int((y[removed] == c).sum()) for c in (0, 1, 2)] == [2, 2, 2]
        if solver == "milp":
            assert meta["objective"] == pytest.approx(want, rel=1e-7)


# --- infeasibility is never silent -------------------------------------------------------


def test_infeasible_requests_raise():
    V = np.random.default_rng(0).normal(size=(8, 3))
    with pytest.raises(programs.InfeasibleError):
        op.solve_budget(V, 9)
    with pytest.raises(programs.InfeasibleError):
        op.solve_budget(V, -1)
    with pytest.raises(programs.InfeasibleError):
        op.solve_epsilon(V, -1e-3)
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    with pytest.raises(programs.InfeasibleError):
        programs.brute_force(V, "budget", m=3, groups=y, quotas={0: 0, 1: 3})
    with pytest.raises(ValueError):
        op.solve_budget(np.full((4, 2), np.nan), 1)


def test_solver_returning_infeasible_set_raises(monkeypatch):
    V = np.random.default_rng(1).normal(size=(10, 3))

    def overfull(st, m, quotas=None, batch=None):  # a broken heuristic: one sample too many
        st.apply(add=np.arange(m + 1))

    monkeypatch.setattr(op, "greedy_budget", overfull)
    with pytest.raises(programs.InfeasibleError):
        op.solve_budget(V, 4, solver="greedy")

    def too_big(st, epsilon, norm, max_swaps, deadline=None, rounds=8, cap=None):  # ignores ε and the cap
        st.apply(add=np.arange(st.n))
        return 0

    monkeypatch.setattr(op, "greedy_epsilon", too_big)
    eps = 0.5 * np.linalg.norm(V, axis=1).min()
    removed, _ = op.solve_epsilon(V, eps, solver="greedy")  # repaired before returning
    assert np.linalg.norm(V[removed].sum(0)) <= eps


# --- influence: closed form vs autograd -----------------------------------------------------


def _ce_objective(theta, H1, y, K, wd):
    Wb = theta.reshape(K, -1)
    return F.cross_entropy(H1 @ Wb.T, y) + 0.5 * wd * (theta * theta).sum()


def test_last_layer_closed_form_matches_autograd():
    rng = np.random.default_rng(3)
    n, d, K, wd, lam = 40, 5, 4, 1e-2, 1e-3
    feats = rng.normal(size=(n, d)) * 2.0
    y = rng.integers(0, K, n)
    W, b = rng.normal(size=(K, d)), rng.normal(size=K)
    logits = feats @ W.T + b
    # oracle: autograd on θ = [W | b] (class-major), H1 = [h, 1]
    H1 = torch.as_tensor(np.c_[feats, np.ones(n)])
    yt = torch.as_tensor(y)
    theta = torch.as_tensor(np.c_[W, b].reshape(-1))
    H_ag = torch.autograd.functional.hessian(lambda t: _ce_objective(t, H1, yt, K, wd), theta).numpy()
    H_ag += lam * np.eye(len(theta))
    H_cf = influence.last_layer_hessian(feats, logits, damping=wd + lam)
    np.testing.assert_allclose(H_cf, H_ag, rtol=1e-10, atol=1e-13)
    # per-sample gradients of the sample's share of J: ∇ℓ_i + wd·θ
    def sample_loss(t, i):
        return F.cross_entropy(H1[i : i + 1] @ t.reshape(K, -1).T, yt[i : i + 1])

    G = np.stack([torch.func.grad(sample_loss)(theta, i).numpy() for i in range(n)])
    np.testing.assert_allclose(influence.last_layer_grads(feats, logits, y), G, rtol=1e-10, atol=1e-13)
    want = -np.linalg.solve(H_ag, (G + wd * theta.numpy()).T).T / n
    Iv, info = influence.last_layer_influence(feats, logits, y, damping=lam, weight_decay=wd, head=(W, b))
    np.testing.assert_allclose(Iv, want, rtol=1e-8, atol=1e-14)
    assert info["P"] == K * (d + 1)
    Wl, bl = influence.to_linear_layout(influence.from_linear_layout(W, b), K)
    np.testing.assert_array_equal(Wl, W)
    np.testing.assert_array_equal(bl, b)


@pytest.mark.parametrize("method", ["dense", "cg"])
def test_full_network_influence_matches_dense_solve(method):
    g = torch.Generator().manual_seed(0)
    n, d, h, K, wd = 24, 3, 4, 3, 1e-2
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, K, (n,), generator=g)
    sizes = [d * h, h, h * K, K]
    theta = torch.randn(sum(sizes), generator=g, dtype=torch.float64) * 0.5

    def logits_fn(th, xb):
        W1, b1, W2, b2 = torch.split(th, sizes)
        return torch.tanh(xb @ W1.reshape(d, h) + b1) @ W2.reshape(h, K) + b2

    def J(th):
        return F.cross_entropy(logits_fn(th, x), y) + 0.5 * wd * (th * th).sum()

    H0 = torch.autograd.functional.hessian(J, theta)
    lam = max(0.05, 0.05 - float(torch.linalg.eigvalsh(H0)[0]))  # damping that makes this instance PD
    Hd = H0 + lam * torch.eye(len(theta), dtype=torch.float64)
    G = torch.stack([torch.autograd.functional.jacobian(
        lambda t, i=i: F.cross_entropy(logits_fn(t, x[i : i + 1]), y[i : i + 1]), theta) for i in range(n)])
    want = (-torch.linalg.solve(Hd, (G + wd * theta).T).T / n).numpy()
    Iv, info = influence.full_influence(logits_fn, theta, x, y.numpy(), damping=lam, weight_decay=wd, method=method)
    np.testing.assert_allclose(Iv, want, rtol=1e-7, atol=1e-12)
    assert info["method"] == method


def test_full_influence_rejects_indefinite_hessian():
    x = torch.randn(6, 2, dtype=torch.float64)
    y = np.array([0, 1, 0, 1, 0, 1])

    def logits_fn(th, xb):  # a saddle: logits = (θ₀θ₁ x₀) · [1, −1]
        z = th[0] * th[1] * xb[:, :1]
        return torch.cat([z, -z], 1)

    with pytest.raises(ValueError):
        influence.full_influence(logits_fn, torch.zeros(2, dtype=torch.float64), x, y, damping=0.0, method="dense")


# --- the convex ground truth: predicted vs actual change of removing a set -------------------


def test_predicted_vs_actual_parameter_change_convex():
    """Logistic regression on 50 digits, full-batch GD to convergence (harness), random removed
    sets of 3 sizes: the additive influence estimate −Σ_W I_i vs retraining without W.

    Measured on this configuration (seed 0): Spearman of the norms over the 9 sets 0.967 (sizes
    3, 6, 12 — partly a size effect), median cosine 0.914, median actual/predicted norm 3.9 (the
    influence function ignores the removed samples' own curvature: P = 650 > n = 50 with a weak
    ridge, so H changes a lot when samples leave); one exact Newton step on the retraining
    objective (Hessian of the kept samples) has median relative error 0.09, cosine 0.996, so the
    gap is the approximation, not the retraining; the program-2 set (6 removed) moves θ by 0.50
    vs 0.89 for the median random set of that size; the program-1 set at ε = 5×median‖I_i‖
    removes 25 and moves θ 5.7×ε in reality. Everything is deterministic (float64, fixed seeds);
    the margins only absorb platform round-off and the test still fails if the estimate's
    direction (cosine < 0.81), ordering (ρ < 0.87), scale (ratio outside [2, 8]) or the
    solver's advantage over random (< 25 %) changes materially."""
    from prunebench.methods.optprune import check as oc

    res = oc.run(n=50, models=("logreg",), variants=("last_layer",), steps=1500, retrain_steps=500,
                 set_fracs=(0.06, 0.12, 0.24), sets_per_frac=3, epsilon_mults=(5.0,), budget_fracs=(0.12,),
                 max_removed_frac=0.5, max_exact_n=0)
    s = res["summary"]["logreg"]["last_layer"]
    assert res["summary"]["logreg"]["grad_norm_full_data"] < 1e-6
    assert s["max_retrain_grad_norm"] < 1e-3
    assert s["spearman_norm_all_sizes"] >= PINNED["spearman"] - 0.1
    assert s["median_cosine"] >= PINNED["cosine"] - 0.1
    assert 2.0 <= s["median_actual_over_pred"] <= 8.0
    assert s["newton_median_rel_err"] <= 0.25 and s["newton_median_cosine"] >= 0.98
    (m, b), = s["budget_vs_random"].items()
    assert b["solver_actual"] < 0.75 * b["random_actual_median"]
    assert not s["epsilon_respected"][0] and s["epsilon_actual_over_eps"][0] > 1.5



def test_check_figure_is_byte_identical(tmp_path):
    """The influence check's figure is drawn like every other figure (pyplot-free, fixed metadata)."""
    import pandas as pd

    from prunebench.methods.optprune import check as oc

    rng = np.random.default_rng(0)
    rows = [{"model": "logreg", "variant": v, "kind": k, "m": int(rng.integers(1, 6)), "pred_norm": rng.random(),
             "actual_norm": rng.random(), "epsilon": rng.random() if k == "epsilon" else np.nan}
            for v in ("last_layer", "full") for k in ("random",) * 6 + ("epsilon",) * 2]
    out = []
    for i in range(2):
        oc.plot(pd.DataFrame(rows), tmp_path / f"c{i}.pdf", tmp_path / f"c{i}.png")
        out.append(((tmp_path / f"c{i}.pdf").read_bytes(), (tmp_path / f"c{i}.png").read_bytes()))
    assert out[0] == out[1] and len(out[0][1]) > 1000

PINNED = {"spearman": 0.967, "cosine": 0.914}


# --- the registered solver: wiring, contract, determinism -------------------------------------


class _Run:
    def __init__(self, model, wd):
        self.model, self.meta, self.norm = model, {"recipe": {"weight_decay": wd}}, None

    def load_model(self, checkpoint=None, device="cpu"):
        import copy

        return copy.deepcopy(self.model)


class _Ctx:
    """The slice of ScoreContext the optprune scorer reads."""

    def __init__(self, n=40, seed=0):
        from prunebench.models import build_model

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        self.x = rng.random((n, 1, 4, 4)).astype(np.float32)
        self.y = rng.integers(0, 3, n)
        self.n, self.num_classes, self.seed, self.chunk_size = n, 3, seed, 64
        self.device = torch.device("cpu")
        self.surrogate = _Run(build_model("mlp", (1, 4, 4), 3, hidden=8).double().float(), 1e-3)

    def features(self, run=None):
        from prunebench.models import embed

        with torch.no_grad():
            return embed(self.surrogate.model.eval(), torch.as_tensor(self.x)).numpy()


def test_registered_solver_contract_and_determinism():
    from prunebench.methods.optprune import epsilon
    from prunebench.methods.optprune import scorer as so
    from prunebench.scorers import get_scorer
    from prunebench.select import n_removed

    info = get_scorer("optprune")
    assert info.kind == "solver" and info.keep == "high" and "2205.09329" in info.paper
    assert info.defaults["hessian"] == "last_layer" and info.defaults["norm"] == "l2"
    ctx = _Ctx()
    ratios = [0.0, 0.25, 0.5]
    a = so.solve_subsets(ctx, ratios, max_exact_n=0)
    b = so.solve_subsets(ctx, ratios, max_exact_n=0)
    Iv, _ = so.compute_influence(ctx)
    for r in ratios:
        kept, meta = a[r]
        assert kept.dtype == np.int64 and np.all(np.diff(kept) > 0)
        assert len(kept) == ctx.n - n_removed(ctx.n, r)
        removed = np.setdiff1d(np.arange(ctx.n), kept)
        assert meta["objective"] == pytest.approx(np.linalg.norm(Iv[removed].sum(0)), rel=1e-9, abs=1e-15)
        assert meta["bound"] <= meta["objective"] + 1e-15
        np.testing.assert_array_equal(kept, b[r][0])
        strip = {k: v for k, v in meta.items() if k != "timing"}
        assert strip == {k: v for k, v in b[r][1].items() if k != "timing"}
    assert len(a[0.0][0]) == ctx.n
    scores = info.fn(ctx, **info.defaults)
    np.testing.assert_allclose(scores, np.linalg.norm(Iv, axis=1), rtol=1e-12)
    strat = so.solve_subsets(ctx, [0.5], max_exact_n=0, stratified=True)[0.5][0]
    removed = np.setdiff1d(np.arange(ctx.n), strat)
    assert sorted(np.bincount(ctx.y[removed], minlength=3)) == sorted(programs.removal_quotas(ctx.y, len(removed)).values())
    study = epsilon.epsilon_study(ctx, [1.0, 4.0], epsilon_unit="median", max_exact_n=0)
    med = np.median(np.linalg.norm(Iv, axis=1))
    sizes = []
    for eps, kept, meta in study:
        removed = np.setdiff1d(np.arange(ctx.n), kept)
        assert np.linalg.norm(Iv[removed].sum(0)) <= eps * med * (1 + 1e-12)
        assert meta["epsilon"] == pytest.approx(eps * med)
        sizes.append(len(removed))
    assert sizes[0] <= sizes[1]


def test_solver_interface_through_the_cli(tiny_surrogate, tmp_path):
    """``prunebench solve`` knows a solver only by its registered :class:`Solver`: the score file is its
    ``scores`` (optprune: ‖I_i‖₂ of the influence), one subset per ratio comes from its ``solve``."""
    from prunebench import cli, scorefile
    from prunebench.scorers import ScoreContext, get_scorer
    from prunebench.scorers.base import register_scorer
    from prunebench.select import n_removed

    data, labels, run = tiny_surrogate
    out = [str(tmp_path / f"r{r}.npy") for r in ("0.30", "0.70")]
    cli.main(["solve", "--method", "optprune", "--data", str(data), "--labels", str(labels), "--surrogate", str(run),
              "--ratios", "0.3", "0.7", "--scores", str(tmp_path / "s.csv"), "--out", *out, "--device", "cpu",
              "--no-progress", "--params", '{"max_exact_n": 0}'])
    scores, meta = scorefile.read(tmp_path / "s.csv")
    assert meta["score"] == "influence norm ||I_i||_2"
    ctx = ScoreContext(data, labels, [run], seed=0, device="cpu", progress=False)
    Iv, _ = get_scorer("optprune").solver.prepare(ctx)
    np.testing.assert_allclose(scores, np.linalg.norm(Iv.astype(np.float64), axis=1), rtol=1e-6)
    n = len(scores)
    for path, r in zip(out, (0.3, 0.7)):
        kept = np.load(path)
        assert len(kept) == n - n_removed(n, r) and np.all(np.diff(kept) > 0)
    with pytest.raises(ValueError, match="kind='solver' needs solver"):
        register_scorer("no-solver", keep="high", paper="-", kind="solver")(lambda ctx: None)

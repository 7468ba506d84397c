"""MoSo (Tan et al. 2023): formula, exact leave-one-out, scorer wiring and the agreement study."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from prunebench import exact
from prunebench.methods.moso import scorer as M

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# --- the per-checkpoint formula ------------------------------------------------------

def test_checkpoint_formula_by_hand():
    # n = 4, lr = 0.1: paper = lr (n·dot − sq)/(n − 1)
    s = M.moso_checkpoint_scores([1.0, 0.5], [2.0, 4.0], 4, 0.1)
    assert s == pytest.approx([0.1 * 2 / 3, -0.1 * 2 / 3])
    assert M.moso_checkpoint_scores([1.0], [2.0], 4, 0.1, loo_correction=False) == pytest.approx([0.1])
    # release: [(2N−3)‖ḡ‖² − ‖g‖² + (2N−4)(<ḡ,g> − ‖g‖²/N)]/(N−1)² = (5 − 2 + 4·0.5)/9
    assert M.moso_checkpoint_scores([1.0], [2.0], 4, 1.0, 1.0, formula="release") == pytest.approx([5 / 9])
    with pytest.raises(ValueError):
        M.moso_checkpoint_scores([1.0], [2.0], 4, 1.0, formula="release")
    with pytest.raises(ValueError):
        M.moso_checkpoint_scores([1.0], [2.0], 4, 1.0, formula="nope")


def test_formula_equals_explicit_leave_one_out_gradients():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(7, 5))
    n, gbar = 7, g.mean(0)
    loo = np.array([(g.sum(0) - g[i]) / (n - 1) for i in range(n)])  # ∇L_{S∖i}
    dot, sq = g @ gbar, (g * g).sum(1)
    assert np.allclose(M.moso_checkpoint_scores(dot, sq, n, 0.3), 0.3 * (g * loo).sum(1))
    want = (g * loo).sum(1) - (loo * loo).sum(1)
    assert np.allclose(M.moso_checkpoint_scores(dot, sq, n, 1.0, gbar @ gbar, formula="renormalised"), want)


def test_subsample_estimate_is_the_other_rows_mean_and_unbiased():
    """gbar=subsample: for every row, <g_i, mean of g_j over R∖{i}>; averaged over every subsample R of
    size m it is exactly the leave-one-out term <g_i, ∇L_{S∖i}> (unbiased, no ‖g_i‖² outside R)."""
    from itertools import combinations

    rng = np.random.default_rng(3)
    g = rng.normal(size=(8, 4)) + np.array([1.0, 0, 0, 0])
    n, m = 8, 3
    exact = M.moso_checkpoint_scores(g @ g.mean(0), (g * g).sum(1), n, 0.5)
    acc = np.zeros(n)
    subsets = list(combinations(range(n), m))
    for R in subsets:
        R = np.array(R)
        gR = g[R].mean(0)
        sq = np.full(n, np.nan)
        sq[R] = (g[R] ** 2).sum(1)
        est = M.moso_checkpoint_scores(g @ gR, sq, n, 0.5, subsample=R)
        others = np.array([np.delete(R, np.where(R == i)[0]) for i in range(n)], dtype=object)
        want = 0.5 * np.array([g[i] @ g[list(others[i])].mean(0) for i in range(n)])
        assert np.allclose(est, want, rtol=1e-12)
        acc += est
    assert np.allclose(acc / len(subsets), exact, rtol=1e-12)
    assert np.array_equal(M.moso_checkpoint_scores([1.0, 2.0], [np.nan] * 2, 4, 2.0, loo_correction=False,
                                                   subsample=np.array([0, 1])), [2.0, 4.0])
    with pytest.raises(ValueError, match="formula='paper' only"):
        M.moso_checkpoint_scores([1.0] * 4, [1.0] * 4, 4, 1.0, 1.0, formula="release", subsample=np.array([0, 1]))
    with pytest.raises(ValueError, match="at least 2 rows"):
        M.moso_checkpoint_scores([1.0] * 4, [1.0] * 4, 4, 1.0, subsample=np.array([0]))
    assert "supports formula = paper" in M.subsample_with_paper_formula({"gbar": "subsample", "formula": "release"},
                                                                         {})


def test_aggregate_and_partitions():
    a = np.array([[1.0, 2.0], [3.0, 6.0]])
    assert M.aggregate_checkpoints(a, "mean").tolist() == [2.0, 4.0]
    assert M.aggregate_checkpoints(a, "sum").tolist() == [4.0, 8.0]
    with pytest.raises(ValueError):
        M.aggregate_checkpoints(a, "max")
    parts = M.partition_indices(10, 3)
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]  # the release's split
    parts = M.partition_indices(10, 3, "random", seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10)) and [len(p) for p in parts] == [3, 3, 4]
    with pytest.raises(ValueError):
        M.partition_indices(3, 4)


# --- exact leave-one-out on the tiny harness ---------------------------------------------

def _numpy_logreg_gd(X, y, K, keep, steps, lr, wd):
    """Hand-rolled multinomial logistic regression, full-batch GD from zeros, on rows ``keep``."""
    W, b = np.zeros((X.shape[1], K)), np.zeros(K)
    Xk, Yk = X[keep], np.eye(K)[y[keep]]
    for _ in range(steps):
        Z = Xk @ W + b
        P = np.exp(Z - Z.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        R = (P - Yk) / len(keep)
        W, b = W - lr * (Xk.T @ R + wd * W), b - lr * (R.sum(0) + wd * b)
    Z = X @ W + b
    return -(Z[np.arange(len(y)), y] - np.log(np.exp(Z - Z.max(1, keepdims=True)).sum(1)) - Z.max(1))


def test_moso_exact_tiny_matches_hand_rolled_loo():
    X, y = exact.tiny_digits(12, seed=3, classes=[1, 4, 7])
    steps, lr, wd = 40, 0.4, 1e-2
    n = len(y)
    full = _numpy_logreg_gd(X, y, 3, np.arange(n), steps, lr, wd)
    want = []
    for i in range(n):
        rest = np.delete(np.arange(n), i)
        li = _numpy_logreg_gd(X, y, 3, rest, steps, lr, wd)
        want.append(li[rest].mean() - full[rest].mean())
    got = M.moso_exact_tiny(X, y, 3, "logreg", steps=steps, lr=lr, weight_decay=wd)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-13)


def test_first_order_is_exact_to_first_order_for_one_gd_step():
    """One full-batch GD step with a small lr: the renormalised term equals exact LOO up to O(η);
    the paper's term differs by a nearly constant −η‖∇L_{S∖i}‖², so it ranks like exact LOO."""
    X, y = exact.tiny_digits(40, seed=0)
    for model in ("logreg", "mlp"):
        ex = M.moso_exact_tiny(X, y, 10, model, steps=1, lr=0.01)
        unit = 1 / 40  # (steps/N)
        ren = unit * M.moso_first_order_tiny(X, y, 10, model, steps=1, lr=0.01, formula="renormalised")
        paper = unit * M.moso_first_order_tiny(X, y, 10, model, steps=1, lr=0.01)
        assert np.max(np.abs(ren - ex)) <= 0.02 * np.max(np.abs(ex))
        assert spearmanr(paper, ex)[0] > 0.99  # measured 0.9994 (logreg), 0.9998 (mlp)
        assert np.max(np.abs(paper - ex)) > 0.5 * np.max(np.abs(ex))  # … but it is not the same number


def test_first_order_tiny_matches_vmap_gradients():
    """The trajectory MoSo against per-sample gradients from torch.func (independent of exact.py's closed form)."""
    from torch.func import grad, vmap

    X, y = exact.tiny_digits(15, seed=2, classes=[0, 1, 2])
    traj = exact.trajectory(X, y, 3, None, "mlp", 12, 0.3, 1e-3, 8, 0)
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def loss(p, x, t):
        h = torch.tanh(x @ p[0] + p[1])
        return F.cross_entropy((h @ p[2] + p[3])[None], t[None])

    per = []
    # how the surrogate spreads T=4 checkpoints over 12 steps: the ends of 4 equal stretches,
    # round(linspace(0, 11, 5)[1:]) — never the random initialisation at step 0
    for t in (3, 6, 8, 11):
        gs = vmap(grad(loss), in_dims=(None, 0, 0))(traj.params[t], Xt, yt)
        g = torch.cat([q.reshape(15, -1) for q in gs], 1).numpy()
        loo = (g.sum(0)[None] - g) / 14
        per.append(traj.lrs[t] * (g * loo).sum(1))
    got = M.moso_first_order_tiny(X, y, 3, "mlp", 12, 0.3, 1e-3, 8, 0, T=4)
    assert np.allclose(got, np.mean(per, 0), rtol=1e-10, atol=1e-14)


# --- the scorer on a real surrogate run -------------------------------------------------

def _batch1_moso(run, x, y, T):
    """MoSo written out: batch-1 gradients, explicit ∇L_{S∖i}, lr-weighted, mean over checkpoints."""
    n, per = len(y), []
    for ck in run.sampled_checkpoints(T):
        model = run.load_model(ck).eval()
        params = [p for p in model.parameters() if p.requires_grad]
        mean = torch.tensor(run.norm.mean).view(1, -1, 1, 1)
        std = torch.tensor(run.norm.std).view(1, -1, 1, 1)
        gs = []
        for i in range(n):
            xi = (torch.as_tensor(x[i : i + 1]).float() - mean) / std
            li = F.cross_entropy(model(xi), torch.as_tensor(y[i : i + 1]))
            gs.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(li, params)]).double())
        g = torch.stack(gs)
        loo = (g.sum(0)[None] - g) / (n - 1)
        per.append(ck["lr"] * (g * loo).sum(1).numpy())
    return np.mean(per, 0)


def test_moso_run_scores_against_batch1(tiny_surrogate):
    from prunebench.data import load_dataset
    from prunebench.train.surrogate import SurrogateRun

    data, labels, rdir = tiny_surrogate
    run = SurrogateRun(rdir)
    x = load_dataset(data).x_train[:30]
    y = np.load(labels)["y"][:30]
    want = _batch1_moso(run, x, y, 2)
    scale = np.abs(want).max()
    fast = M.moso_run_scores(run, x, y, T=2, chunk_size=8)
    ref = M.moso_run_scores(run, x, y, T=2, reference=True)
    assert np.max(np.abs(fast - want)) <= 1e-4 * scale
    assert np.max(np.abs(ref - want)) <= 1e-4 * scale
    summed = M.moso_run_scores(run, x, y, T=2, aggregate="sum", chunk_size=8)
    assert np.allclose(summed, 2 * fast, rtol=1e-12)


def test_registered_scorers(tiny_surrogate):
    from prunebench.scorers import ScoreContext, get_scorer

    data, labels, rdir = tiny_surrogate
    info = get_scorer("moso")
    assert info.keep == "high" and "2310.14664" in info.paper and info.defaults["T"] == 10
    ctx = ScoreContext(data, labels, [rdir], seed=0, device="cpu", chunk_size=512, progress=False)
    a = info.fn(ctx, **{**info.defaults, "T": 3})
    b = info.fn(ctx, **{**info.defaults, "T": 3})
    assert a.shape == (ctx.n,) and np.isfinite(a).all() and np.array_equal(a, b)  # deterministic
    sub = info.fn(ctx, **{**info.defaults, "T": 3, "gbar": "subsample", "gbar_fraction": 0.2})
    assert np.isfinite(sub).all() and spearmanr(a, sub)[0] > 0.5
    with pytest.raises(ValueError, match="raise surrogate.T"):
        info.fn(ctx, **{**info.defaults, "T": 50})
    ex = get_scorer("moso_exact")
    assert ex.keep == "high"
    with pytest.raises(ValueError, match="force=True"):
        ex.fn(ctx)


def test_partitions_score_each_partition_with_its_own_surrogate(tiny_surrogate):
    """Partition k is scored by surrogates[k] with a partition-local ḡ and N."""
    from prunebench.data import load_dataset
    from prunebench.train.surrogate import SurrogateRun

    data, labels, rdir = tiny_surrogate
    x, y = load_dataset(data).x_train[:20], np.load(labels)["y"][:20]

    class Part(SurrogateRun):  # the real run, presented as the surrogate of a 10-sample partition
        def __init__(self, k):
            super().__init__(rdir)
            self.meta = {**self.meta, "n": 10, "partition": {"index": k, "count": 2, "mode": "contiguous", "seed": 0}}

    ctx = types.SimpleNamespace(x=x, y=y, n=20, surrogates=[Part(0), Part(1)], surrogate=None, chunk_size=7,
                                device="cpu", progress=False, seed=0)
    got = M.moso(ctx, T=2, partitions=2)
    run = SurrogateRun(rdir)
    want = np.concatenate([M.moso_run_scores(run, x[:10], y[:10], T=2), M.moso_run_scores(run, x[10:], y[10:], T=2)])
    assert np.allclose(got, want, rtol=1e-12)
    ctx.surrogates = [Part(1), Part(0)]
    with pytest.raises(ValueError, match="partition"):
        M.moso(ctx, T=2, partitions=2)


def test_moso_exact_fit_against_a_hand_rolled_retraining_loop():
    from prunebench.models import build_model
    from prunebench.train import Recipe, fit, set_determinism

    rng = np.random.default_rng(0)
    x, y = rng.random((6, 1, 4, 4)).astype(np.float32), rng.integers(0, 3, 6)
    recipe = {"epochs": 2, "batch_size": 4, "lr": 0.1}
    got = M.moso_exact_fit(x, y, "mlp", recipe, 5, (1, 4, 4), 3, model_kw={"hidden": 8})

    def losses(keep):
        set_determinism(5, 1)
        m = build_model("mlp", (1, 4, 4), 3, hidden=8)
        fit(m, x[keep], y[keep], Recipe(**recipe), 5, torch.device("cpu"), progress=False)
        m.eval()
        with torch.no_grad():
            return F.cross_entropy(m(torch.tensor(x)).double(), torch.tensor(y), reduction="none").numpy()

    full = losses(np.arange(6))
    for i in (0, 3):
        rest = np.delete(np.arange(6), i)
        assert got[i] == pytest.approx(losses(rest)[rest].mean() - full[rest].mean(), rel=1e-6, abs=1e-9)


# --- the agreement study ---------------------------------------------------------------

def test_agreement_study_pinned(tmp_path):
    """Loose agreement is a property of the first-order approximation: these are the measured values
    (n=40 digits, 200 GD steps, lr 0.5, wd 1e-3, seed 0), pinned with a small margin."""
    from prunebench.methods.moso.agreement import run_agreement

    sm = run_agreement(tmp_path, n=40, steps=200, seed=0, figure=False)
    got = {(r.model, r.approximation): (r.spearman, r.pearson) for r in sm.itertuples()}
    measured = {
        ("logreg", "moso_Tall"): (0.353, 0.775),
        ("logreg", "moso_T10"): (0.578, 0.904),  # checkpoints never at the random init (was 0.17 / 0.43)
        ("logreg", "linearised"): (0.819, 0.462),
        ("mlp", "moso_Tall"): (-0.050, 0.047),
        ("mlp", "moso_T10"): (0.121, 0.075),
        ("mlp", "linearised"): (0.630, 0.622),
    }
    for key, (rho, r) in measured.items():
        assert got[key][0] == pytest.approx(rho, abs=0.01), key
        assert got[key][1] == pytest.approx(r, abs=0.01), key
    import pandas as pd

    df = pd.read_csv(tmp_path / "agreement.csv")
    X, y = exact.tiny_digits(40, seed=0)
    ex = M.moso_exact_tiny(X, y, 10, "logreg", steps=200, lr=0.5, weight_decay=1e-3)
    assert np.allclose(df[df.model == "logreg"]["exact"].to_numpy(), ex, rtol=1e-5)
    assert (tmp_path / "agreement_summary.csv").exists()



def test_agreement_figure_is_byte_identical(tmp_path):
    """The agreement figure is drawn like every other figure (pyplot-free, fixed metadata): same table, same bytes."""
    import pandas as pd

    from prunebench.methods.moso.agreement import plot_agreement

    rng = np.random.default_rng(0)
    shown = ("moso_Tall", "moso_T10", "linearised")
    df = pd.DataFrame([{"model": m, "index": i, "exact": rng.normal(), **{k: rng.normal() for k in shown}}
                       for m in ("logreg", "mlp") for i in range(8)])
    sm = pd.DataFrame([{"model": m, "approximation": k, "spearman": 0.5, "pearson": 0.4}
                       for m in ("logreg", "mlp") for k in shown])
    out = []
    for i in range(2):
        plot_agreement(df, sm, tmp_path / f"a{i}", T=10)
        out.append(((tmp_path / f"a{i}.pdf").read_bytes(), (tmp_path / f"a{i}.png").read_bytes()))
    assert out[0] == out[1] and len(out[0][1]) > 1000

def test_partition_surrogates_trained_and_scored_end_to_end(digits_dir, tmp_path):
    """`train-surrogate --partitions 2` trains one surrogate per disjoint partition (each recording
    only its own samples); `score --method moso` on those folders scores every sample with its own
    partition's surrogate — equal to scoring each partition by hand."""
    from prunebench import io, scorefile
    from prunebench.cli import main
    from prunebench.data import load_dataset
    from prunebench.train.surrogate import SurrogateRun, partition_indices

    ds = load_dataset(digits_dir)
    labels = tmp_path / "labels.npz"
    io.save_npz(labels, y=ds.y_train, flipped=np.zeros(len(ds.y_train), bool))
    out = tmp_path / "sur" / "seed0"
    main(["train-surrogate", "--data", str(digits_dir), "--labels", str(labels), "--arch", "mlp", "--seed", "0",
          "--out", str(out), "--recipe", '{"epochs": 2, "batch_size": 256, "lr": 0.05}', "--T", "2",
          "--partitions", "2", "--partition-mode", "random", "--partition-seed", "3", "--no-progress"])
    parts = partition_indices(len(ds.y_train), 2, "random", 3)
    runs = [SurrogateRun(out / f"part{k}") for k in range(2)]
    for k, (run, idx) in enumerate(zip(runs, parts)):
        assert run.meta["n"] == len(idx) and run.meta["partition"] == {"index": k, "count": 2, "mode": "random",
                                                                          "seed": 3}
        assert np.array_equal(np.load(out / f"part{k}" / "indices.npy"), idx)
        assert run.dynamics["prob"].shape == (2, len(idx))
    assert run.meta["seed"] == 1  # partition k of seed s: torch seed 1000·s + k
    scores = tmp_path / "moso.csv"
    main(["score", "--method", "moso", "--data", str(digits_dir), "--labels", str(labels), "--surrogate",
          str(out / "part0"), str(out / "part1"), "--surrogates-per-seed", "2", "--seed", "0", "--params",
          '{"T": 2}', "--out", str(scores), "--no-progress"])
    got, meta = scorefile.read(scores, n=len(ds.y_train))
    assert meta["params"]["partitions"] == 1  # found from the surrogates' own partition meta
    for run, idx in zip(runs, parts):
        want = M.moso_run_scores(run, ds.x_train[idx], ds.y_train[idx], T=2, chunk_size=1024)  # as ctx chunks
        scale = np.abs(want).max()
        assert np.max(np.abs(got[idx] - want)) <= 1e-6 * scale  # float32 gradients, another process's order
    with pytest.raises(SystemExit):  # a scorer that needs one surrogate of the whole set refuses a partition
        main(["score", "--method", "el2n", "--data", str(digits_dir), "--labels", str(labels), "--surrogate",
              str(out / "part0"), "--seed", "0", "--params", '{"epoch": 1}', "--out", str(tmp_path / "e.csv")])

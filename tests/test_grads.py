"""The fast per-sample gradient path (grads.py) against batch-size-1 autograd loops written here."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from prunebench import grads as G
from prunebench.models import build_model
from prunebench.train.loop import Normalizer

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread (as set_determinism does): oversubscribed threads make these tiny ops crawl."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _model(name, shape, kw=None, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    m = build_model(name, shape, 5, **(kw or {})).to(dtype)
    g = torch.Generator().manual_seed(seed + 1)
    for mod in m.modules():  # non-trivial BN statistics/affine, so eval-mode BN matters
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.copy_(torch.rand(mod.num_features, generator=g) - 0.5)
            mod.running_var.copy_(0.5 + torch.rand(mod.num_features, generator=g))
            mod.weight.data.copy_(0.5 + torch.rand(mod.num_features, generator=g))
            mod.bias.data.copy_(0.2 * torch.rand(mod.num_features, generator=g) - 0.1)
    m.train()  # the functions must switch to eval themselves
    return m


def _loop(model, x, y, v=None, norm=None):
    """Per-sample flat gradients by one autograd call per sample, eval mode (independent oracle)."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    dtype = params[0].dtype
    out = []
    for i in range(len(y)):
        xi = torch.as_tensor(x[i : i + 1])
        xi = xi.to(dtype) / 255 if xi.dtype == torch.uint8 else xi.to(dtype)
        if norm is not None:
            xi = (xi - torch.tensor(norm.mean, dtype=dtype).view(1, -1, 1, 1)) / torch.tensor(
                norm.std, dtype=dtype).view(1, -1, 1, 1)
        loss = F.cross_entropy(model(xi), torch.as_tensor(y[i : i + 1]))
        out.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]).double())
    model.train()
    return torch.stack(out)


CASES = [
    ("cnn_small", (1, 8, 8), {}),
    ("resnet_small", (3, 8, 8), {}),
    ("timm-test_vit", (3, 8, 8), {"patch_size": 2}),
    ("timm-test_resnet", (3, 8, 8), {}),
]


@pytest.mark.parametrize("name,shape,kw", CASES, ids=[c[0] for c in CASES])
def test_fast_path_equals_batch1_loop(name, shape, kw):
    m = _model(name, shape, kw)
    rng = np.random.default_rng(0)
    x, y = rng.random((10, *shape)), rng.integers(0, 5, 10)
    Gs = _loop(m, x, y)
    gbar = Gs.mean(0)
    gn, gbn = Gs.norm(dim=1).numpy(), float(gbar.norm())
    tol_dot, tol_sq = 1e-9 * gn * gbn, 1e-9 * gn**2
    for gram in ("auto", "always", "never"):
        st = G.gradient_stats(m, x, y, chunk_size=4, gram=gram)
        assert np.all(np.abs(st.sqnorm - (Gs**2).sum(1).numpy()) <= tol_sq)
        assert np.all(np.abs(st.dot - (Gs @ gbar).numpy()) <= tol_dot)
        assert np.allclose(G.flatten(st.gbar).double().numpy(), gbar.numpy(), rtol=0, atol=1e-12)
        assert st.gbar_sqnorm == pytest.approx(float(gbar @ gbar), rel=1e-12)
    v = torch.randn(Gs.shape[1], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    want = (Gs @ v).numpy()
    tol_v = 1e-9 * gn * float(v.norm())
    for method in ("jvp", "hooks"):
        assert np.all(np.abs(G.grad_dot(m, x, y, v, chunk_size=3, method=method) - want) <= tol_v)
    d, s = G.reference_per_sample(m, x, y, v)
    assert np.all(np.abs(d - want) <= tol_v) and np.all(np.abs(s - (Gs**2).sum(1).numpy()) <= tol_sq)
    assert m.training  # mode restored


def test_subsample_gbar_is_the_mean_over_a_seeded_subsample():
    m = _model("resnet_small", (3, 8, 8))
    rng = np.random.default_rng(1)
    x, y = rng.random((12, 3, 8, 8)), rng.integers(0, 5, 12)
    Gs = _loop(m, x, y)
    st = G.gradient_stats(m, x, y, chunk_size=5, gbar="subsample", gbar_fraction=0.25, seed=7)
    idx = np.sort(np.random.default_rng(7).choice(12, size=3, replace=False))
    gsub = Gs[idx].mean(0)
    assert np.allclose(G.flatten(st.gbar).double().numpy(), gsub.numpy(), atol=1e-12)
    assert np.allclose(st.dot, (Gs @ gsub).numpy(), rtol=1e-9, atol=1e-12)
    # ‖g_i‖² on the subsample only (the one backward pass is over the subsample)
    assert np.array_equal(st.subsample, idx)
    assert np.allclose(st.sqnorm[idx], (Gs[idx] ** 2).sum(1).numpy(), rtol=1e-9)
    assert np.isnan(np.delete(st.sqnorm, idx)).all()
    with pytest.raises(ValueError):
        G.gradient_stats(m, x, y, gbar="subsample", gbar_fraction=0)


def test_float32_uint8_and_normaliser():
    """float32 model, uint8 images and a per-channel normaliser (the scorer's setting)."""
    m = _model("cnn_small", (1, 8, 8), dtype=torch.float32)
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 256, (9, 1, 8, 8)).astype(np.uint8), rng.integers(0, 5, 9)
    norm = Normalizer([0.4], [0.3])
    Gs = _loop(m, x, y, norm=norm)
    gbar = Gs.mean(0)
    st = G.gradient_stats(m, x, y, norm=norm, chunk_size=4)
    gn = Gs.norm(dim=1).numpy()
    assert np.all(np.abs(st.dot - (Gs @ gbar).numpy()) <= 1e-5 * gn * float(gbar.norm()))
    assert np.all(np.abs(st.sqnorm - (Gs**2).sum(1).numpy()) <= 1e-5 * gn**2)
    # vmap(grad) comparison path
    d, s = G.per_sample_vmap(m, x, y, st.gbar, norm=norm, chunk_size=4)
    assert np.all(np.abs(s - (Gs**2).sum(1).numpy()) <= 1e-5 * gn**2)


def test_chunking_does_not_change_results():
    m = _model("resnet_small", (3, 8, 8))
    rng = np.random.default_rng(4)
    x, y = rng.random((11, 3, 8, 8)), rng.integers(0, 5, 11)
    a = G.gradient_stats(m, x, y, chunk_size=11)
    b = G.gradient_stats(m, x, y, chunk_size=2)
    assert np.allclose(a.dot, b.dot, rtol=1e-12, atol=1e-15) and np.allclose(a.sqnorm, b.sqnorm, rtol=1e-12)


def test_eval_mode_is_what_is_measured():
    """With train-mode BN the per-sample gradient would depend on the batch; ours must not."""
    m = _model("resnet_small", (3, 8, 8))
    rng = np.random.default_rng(5)
    x, y = rng.random((6, 3, 8, 8)), rng.integers(0, 5, 6)
    whole = G.grad_sqnorm(m, x, y, chunk_size=6)
    alone = np.concatenate([G.grad_sqnorm(m, x[i : i + 1], y[i : i + 1], chunk_size=1) for i in range(6)])
    assert np.allclose(whole, alone, rtol=1e-12)


class _Shared(torch.nn.Module):
    """A Linear applied twice (weight sharing → whole-network vmap fallback), a LayerNorm
    (local per-module vmap) and a root-level parameter (local on the root module)."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Linear(16, 6)
        self.shared = torch.nn.Linear(6, 6)
        self.ln = torch.nn.LayerNorm(6)
        self.scale = torch.nn.Parameter(torch.tensor([1.5, 0.5, 1.0, 2.0, 1.0]))
        self.out = torch.nn.Linear(6, 5)

    def forward(self, x):
        h = torch.tanh(self.inp(x.flatten(1)))
        h = torch.tanh(self.shared(torch.tanh(self.shared(h))))
        return self.out(self.ln(h)) * self.scale


def test_fallbacks_for_shared_modules_and_root_parameters():
    torch.manual_seed(0)
    m = _Shared().double()
    rng = np.random.default_rng(6)
    x, y = rng.random((9, 1, 4, 4)), rng.integers(0, 5, 9)
    Gs = _loop(m, x, y)
    gbar = Gs.mean(0)
    st = G.gradient_stats(m, x, y, chunk_size=4)
    assert np.allclose(st.sqnorm, (Gs**2).sum(1).numpy(), rtol=1e-10)
    assert np.allclose(st.dot, (Gs @ gbar).numpy(), rtol=1e-10, atol=1e-14)
    assert np.allclose(G.grad_dot(m, x, y, st.gbar, chunk_size=4, method="hooks"), (Gs @ gbar).numpy(), rtol=1e-10)


def test_ce_residual_is_stable_when_saturated():
    z = torch.tensor([[30.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
    y = torch.tensor([0, 2])
    r = G.ce_residual(z, y)
    z64 = z.double()
    want = torch.softmax(z64, 1) - F.one_hot(y, 3).double()
    want[0, 0] = -2 * np.exp(-30.0) / (1 + 2 * np.exp(-30.0))  # 1 − p_y, exactly
    assert torch.allclose(r.double(), want, rtol=1e-6, atol=0)
    naive = torch.softmax(z, 1) - F.one_hot(y, 3).float()
    assert naive[0, 0] == 0.0  # what float32 autograd gives: the label entry is lost

"""Fast per-sample gradient statistics for any ``nn.Module`` classifier with cross-entropy.

MoSo (Tan et al., NeurIPS 2023, arXiv 2310.14664, Eq. 4) needs, at every
sampled checkpoint θ_t, the mean gradient ``ḡ = (1/n) Σ_i g_i`` and for every
sample ``<g_i, ḡ>`` and ``‖g_i‖²`` (``g_i = ∇_θ ℓ(f_θ(x_i), y_i)``, the
gradient of the sample's cross-entropy, no weight decay). The authors' release
gets them with two passes of batch-size-1 backprops. Here:

* :func:`mean_gradient` — ḡ by ordinary backward passes over chunks.
* :func:`grad_dot` — ``<g_i, v>`` for all i with ONE forward-mode
  ``torch.func.jvp`` of the logits per chunk along ``v`` (no per-sample
  gradient is formed); the cross-entropy's chain rule is applied to the
  tangent in a cancellation-free form. ``method="hooks"`` computes the same
  inside a backward pass.
* :func:`grad_sqnorm` — ``‖g_i‖²`` exactly, layer by layer, from the layer
  input ``a`` and output gradient ``δ = ∂ℓ_i/∂out_i`` captured by hooks. The
  backward pass is driven to the *input* only (``autograd.grad(z, x)``): the
  hooks also return each layer's batch-summed gradient, so ḡ comes out of the
  same pass and autograd computes no weight gradients twice. Per layer:

  - ``nn.Linear`` on ``(B, in)``: ``‖g_W‖² = ‖a_i‖²·‖δ_i‖²``; bias ``‖δ_i‖²``.
  - ``nn.Linear`` on sequences ``(B, T, in)`` and ``nn.Conv2d`` (groups 1,
    zero padding; ``a`` = unfolded patches, T = output positions): the Gram
    ("ghost norm") form ``Σ_{p,q} (a_p·a_q)(δ_p·δ_q)`` costs ``T²(in+out)``
    per sample, materialising ``G_i = Σ_p δ_p a_pᵀ`` costs ``T·in·out``;
    **rule: materialise iff ``T·(in+out) > in·out``** (``gram="auto"``; force
    with ``"always"`` = Gram / ``"never"`` = materialise). Conv2d
    materialises with ``vmap`` of the conv weight-backward (one grouped
    convolution), sequences with one ``bmm``. Bias: ``‖Σ_p δ_p‖²``.
  - any other module that owns parameters directly (BatchNorm affine,
    LayerNorm, timm's ``cls_token``/``pos_embed`` on the root module, ...):
    its per-sample gradients are materialised with chunked
    ``torch.func.vmap(grad)`` of that module's own ``functional_call`` at the
    captured input, contracted with the captured ``δ`` (local, so it costs
    that module's forward/backward, not the network's). Modules called more
    than once per forward, or with several inputs/outputs, fall back to
    ``vmap(grad)`` of the whole network for their parameters.

* The logit residual ``softmax − onehot`` is computed as in :func:`ce_residual`
  (label entry ``−Σ_{j≠y} p_j``), exact where float32 autograd returns 0 for
  saturated samples (``p_y > 1 − 6e-8``); the reference loops use plain autograd.
* :func:`reference_per_sample` — an independent batch-size-1 autograd loop
  (the authors' way), used by the tests and the cost benchmark.

**Eval mode.** Every function puts the model in ``eval()`` for the duration (and
restores the mode): BatchNorm uses its running statistics, so a sample's
gradient does not depend on the other samples of its batch and the per-sample
gradient is well defined (as in the authors' release, which calls
``model.eval()`` before scoring); dropout/drop-path are off.

Memory is bounded by ``chunk_size`` samples (activations, Gram matrices or the
materialised layer gradients of one chunk). Everything runs on the model's
device and dtype (tests use float64 for exact comparisons).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

ParamDict = dict[str, torch.Tensor]


# --- small helpers -----------------------------------------------------------

def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters())
    return p.device, p.dtype


def _params(model: nn.Module) -> dict[str, nn.Parameter]:
    return {k: p for k, p in model.named_parameters() if p.requires_grad}


def _batch(x, y, s: int, e: int, norm, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``s:e`` as a tensor of the model's dtype: uint8 → /255, then per-channel
    normalisation (``norm``: an object with ``mean``/``std``, e.g. ``train.loop.Normalizer``)."""
    t = torch.as_tensor(x[s:e]).to(device)
    t = t.to(dtype) / 255.0 if t.dtype == torch.uint8 else t.to(dtype)
    if norm is not None:
        shape = (1, -1) + (1,) * (t.dim() - 2)
        m = torch.tensor(norm.mean, device=device, dtype=dtype).view(shape)
        sd = torch.tensor(norm.std, device=device, dtype=dtype).view(shape).clamp_min(1e-6)
        t = (t - m) / sd
    return t, torch.as_tensor(np.asarray(y[s:e]), dtype=torch.long, device=device)


def _as_vdict(v, params: dict) -> ParamDict:
    """``v`` as a dict aligned with ``params`` (accepts a dict or a flat vector)."""
    if isinstance(v, dict):
        missing = set(params) - set(v)
        if missing:
            raise ValueError(f"direction v lacks parameters {sorted(missing)[:5]}")
        return {k: v[k].detach().to(params[k].device, params[k].dtype) for k in params}
    v = torch.as_tensor(v)
    out, o = {}, 0
    for k, p in params.items():
        out[k] = v[o : o + p.numel()].view_as(p).to(p.device, p.dtype)
        o += p.numel()
    if o != v.numel():
        raise ValueError(f"flat direction has {v.numel()} entries, the model {o} trainable parameters")
    return out


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def _math_sdpa():
    """Forward-mode AD has no rule for the fused CPU/CUDA attention kernels; the
    MATH backend of ``scaled_dot_product_attention`` is made of primitives that have one."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel([SDPBackend.MATH])
    except ImportError:  # pragma: no cover - older torch
        return contextlib.nullcontext()


def _chunks(n: int, chunk_size: int, progress: bool, desc: str):
    starts = range(0, n, max(1, int(chunk_size)))
    return tqdm(starts, desc=desc, disable=not progress, leave=False, mininterval=2.0)


def ce_residual(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``∂ℓ_i/∂z_i = softmax(z_i) − onehot(y_i)`` computed without cancellation: the label
    entry is ``−Σ_{j≠y} p_j`` rather than ``p_y − 1`` (which is 0 in float32 once
    ``p_y > 1 − 6e-8``, as in autograd's cross-entropy backward)."""
    p = torch.softmax(logits.detach(), dim=1)
    others = p.scatter(1, y[:, None], 0.0)
    return others.scatter(1, y[:, None], -others.sum(1, keepdim=True))


def flatten(d: ParamDict) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in d.values()])


def dict_dot(a: ParamDict, b: ParamDict) -> float:
    return float(sum((a[k].double() * b[k].double()).sum() for k in a))


# --- ḡ -----------------------------------------------------------------------

def mean_gradient(model: nn.Module, x, y, norm=None, chunk_size: int = 256, progress: bool = False,
                  indices: np.ndarray | None = None) -> ParamDict:
    """``ḡ = (1/n) Σ_i ∇_θ ℓ_i`` over the rows ``indices`` (default all), eval mode,
    by full backward passes over chunks of ``chunk_size`` (MoSo, Tan et al. 2023, Eq. 4)."""
    if indices is not None:
        x, y = x[np.asarray(indices)], np.asarray(y)[np.asarray(indices)]
    device, dtype = _device_dtype(model)
    params = _params(model)
    names, plist = list(params), list(params.values())
    total = [torch.zeros_like(p) for p in plist]
    n = len(y)
    with _eval_mode(model):
        for s in _chunks(n, chunk_size, progress, "mean gradient"):
            xb, yb = _batch(x, y, s, s + chunk_size, norm, device, dtype)
            z = model(xb)
            for t, g in zip(total, torch.autograd.grad(z, plist, grad_outputs=ce_residual(z, yb))):
                t += g
    return {k: t / n for k, t in zip(names, total)}


# --- <g_i, v> by forward mode ------------------------------------------------------

def grad_dot(model: nn.Module, x, y, v, norm=None, chunk_size: int = 256, progress: bool = False,
             method: str = "jvp") -> np.ndarray:
    """``<g_i, v>`` for every row (float64, shape (n,)), eval mode.

    ``method="jvp"``: one ``torch.func.jvp`` of the logits per chunk along ``v``
    (forward mode); with ``p = softmax(z)`` and tangent ``dz``,
    ``<g_i, v> = Σ_{j≠y_i} p_ij (dz_ij − dz_iy_i)``, the chain rule through the
    cross-entropy written without cancellation.
    ``method="hooks"``: inside a backward pass, layer by layer (see module doc)."""
    if method == "hooks":
        return _hook_pass(model, x, y, v=v, norm=norm, chunk_size=chunk_size, progress=progress,
                          want_sum=False, want_sq=False).dot
    if method != "jvp":
        raise ValueError(f"grad_dot method must be 'jvp' or 'hooks', got {method!r}")
    from torch.func import functional_call, jvp

    device, dtype = _device_dtype(model)
    params = {k: p.detach() for k, p in _params(model).items()}
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    buffers = {**dict(model.named_buffers()), **frozen}
    vd = _as_vdict(v, params)
    n = len(y)
    out = np.zeros(n, np.float64)
    with _eval_mode(model), _math_sdpa(), torch.no_grad():
        for s in _chunks(n, chunk_size, progress, "<g_i, v> (jvp)"):
            xb, yb = _batch(x, y, s, s + chunk_size, norm, device, dtype)

            def logits(p, xb=xb):
                return functional_call(model, (p, buffers), (xb,))

            z, dz = jvp(logits, (params,), (vd,))
            # <g_i, v> = Σ_j (p_j − 1[j=y]) dz_j = Σ_{j≠y} p_j (dz_j − dz_y): no cancellation when p_y ≈ 1
            p = torch.softmax(z, dim=1)
            dot = (p * (dz - dz.gather(1, yb[:, None]))).sum(1)
            out[s : s + len(yb)] = dot.double().cpu().numpy()
    return out


# --- ‖g_i‖² (and <g_i, v>) inside the backward pass ------------------------------

@dataclass
class PassResult:
    gsum: ParamDict | None  # Σ_i g_i over the rows
    sq: np.ndarray | None  # ‖g_i‖²
    dot: np.ndarray | None  # <g_i, v>
    n: int


def _materialise(gram: str, T: int, n_in: int, n_out: int) -> bool:
    """The cost rule: the Gram form costs ``T²·(in+out)`` per sample, the materialised
    per-sample gradient ``T·in·out``; materialise iff ``T·(in+out) > in·out``."""
    return gram == "never" or (gram == "auto" and T * (n_in + n_out) > n_in * n_out)


def _conv_weight_grads(m: nn.Conv2d, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Per-sample Conv2d weight gradients ``(B, out, in, kh, kw)``: ``torch.func.vmap`` of
    ``aten.convolution_backward`` (weight output only); its batching rule runs one grouped
    convolution, ~2× faster on CPU than unfold + bmm."""
    from torch.func import vmap

    W = m.weight.detach()

    def one(ai, di):
        return torch.ops.aten.convolution_backward(
            di[None], ai[None], W, None, list(m.stride), list(m.padding), list(m.dilation), False, [0, 0],
            m.groups, [False, True, False])[1]

    return vmap(one)(a, d)


def _seq_stats(A: torch.Tensor, D: torch.Tensor, vW: torch.Tensor | None, gram: str, want_sq: bool,
               want_sum: bool = False):
    """Per-sample ``‖Σ_p δ_p a_pᵀ‖²`` and ``<Σ_p δ_p a_pᵀ, V>`` for ``A (B,T,in)``, ``D (B,T,out)``,
    and (``want_sum``) the gradient summed over the batch ``(out, in)``."""
    T, i_, o_ = A.shape[1], A.shape[2], D.shape[2]
    materialise = _materialise(gram, T, i_, o_)
    sq = dot = gsum = None
    if materialise:
        G = D.transpose(1, 2) @ A  # (B, out, in)
        if want_sq:
            sq = G.pow(2).sum((1, 2))
        if vW is not None:
            dot = (G * vW).sum((1, 2))
        if want_sum:
            gsum = G.sum(0)
    else:
        if want_sq:
            sq = ((A @ A.transpose(1, 2)) * (D @ D.transpose(1, 2))).sum((1, 2))
        if vW is not None:
            dot = ((D @ vW) * A).sum((1, 2))
        if want_sum:
            gsum = D.reshape(-1, o_).T @ A.reshape(-1, i_)
    return sq, dot, gsum


def _add(acc, val):
    return val if acc is None else acc + val


class _Collector:
    """Forward/backward hooks that turn (layer input, output gradient) into
    per-sample ‖g‖² and <g, v> contributions while autograd runs."""

    def __init__(self, model: nn.Module, v: ParamDict | None, gram: str, want_sq: bool, want_sum: bool = False) -> None:
        self.model, self.v, self.gram, self.want_sq, self.want_sum = model, v, gram, want_sq, want_sum
        self.active = True
        self.sq = None
        self.dot = None
        self.gsum: dict[str, torch.Tensor] = {}  # Σ over the chunk of each parameter's gradient
        self.handles = []
        self.inputs: dict[int, torch.Tensor] = {}
        self.calls: dict[int, int] = {}
        self.kind: dict[int, str] = {}
        self.module_params: dict[int, dict[str, str]] = {}  # id → {local name: full name}
        self.fallback: list[str] = []  # full names of params handled by whole-network vmap(grad)
        trainable = {id(p): k for k, p in model.named_parameters() if p.requires_grad}
        self.modules = {}
        for m in model.modules():
            direct = {ln: trainable[id(p)] for ln, p in m.named_parameters(recurse=False) if id(p) in trainable}
            if direct:
                self.modules[id(m)] = m
                self.module_params[id(m)] = direct

    # -- planning: which handler per module, from one probe forward -----------
    def plan(self, xb: torch.Tensor) -> None:
        probe: dict[int, tuple] = {}

        def count(m, args, kwargs, out):
            c = probe.setdefault(id(m), [0, True])
            c[0] += 1
            single = len(args) == 1 and not kwargs and torch.is_tensor(args[0]) and torch.is_tensor(out)
            c[1] = c[1] and single

        hs = [m.register_forward_hook(count, with_kwargs=True) for m in self.modules.values()]
        with torch.no_grad():
            self.model(xb[:2])
        for h in hs:
            h.remove()
        for mid, m in self.modules.items():
            calls, single = probe.get(mid, [0, False])
            if calls == 0:
                self.kind[mid] = "unused"
            elif calls > 1 or not single:
                self.kind[mid] = "global"
                self.fallback += list(self.module_params[mid].values())
            elif isinstance(m, nn.Linear):
                self.kind[mid] = "linear"
            elif (isinstance(m, nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros"
                  and not isinstance(m.padding, str)):
                self.kind[mid] = "conv2d"
            else:
                self.kind[mid] = "local"

    def attach(self) -> None:
        for mid, m in self.modules.items():
            if self.kind.get(mid) in ("linear", "conv2d", "local"):
                self.handles.append(m.register_forward_hook(self._fwd))

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def _fwd(self, m, args, out) -> None:
        if not self.active or not torch.is_tensor(out) or not out.requires_grad:
            return
        a = args[0].detach()
        out.register_hook(lambda g, m=m, a=a: self._bwd(m, a, g))

    def _acc(self, full: str, g: torch.Tensor) -> None:
        if self.want_sum:
            self.gsum[full] = g if full not in self.gsum else self.gsum[full] + g

    def _bwd(self, m, a: torch.Tensor, d: torch.Tensor) -> None:
        if not self.active:
            return
        kind = self.kind[id(m)]
        names = self.module_params[id(m)]
        v = self.v
        d = d.detach()
        B = a.shape[0]
        sq = dot = None
        if kind in ("linear", "conv2d"):
            W = m.weight
            has_w = "weight" in names
            vW = v[names["weight"]] if (v is not None and has_w) else None
            if kind == "linear" and a.dim() == 2:
                if self.want_sq and has_w:
                    sq = a.pow(2).sum(1) * d.pow(2).sum(1)
                if vW is not None:
                    dot = ((d @ vW) * a).sum(1)
                if has_w:
                    self._acc(names["weight"], d.T @ a)
                dsum = d
            elif kind == "conv2d" and _materialise(self.gram, d[0].numel() // d.shape[1], W[0].numel(), W.shape[0]):
                if has_w:  # per-sample weight gradients (B, out, in, kh, kw) via vmap of the conv weight-backward
                    Gw = _conv_weight_grads(m, a, d)
                    if self.want_sq:
                        sq = Gw.pow(2).sum((1, 2, 3, 4))
                    if vW is not None:
                        dot = (Gw * vW).sum((1, 2, 3, 4))
                    self._acc(names["weight"], Gw.sum(0))
                dsum = d.sum((2, 3))
            else:
                if kind == "linear":
                    A = a.reshape(B, -1, a.shape[-1])
                    D = d.reshape(B, -1, d.shape[-1])
                else:
                    A = F.unfold(a, m.kernel_size, m.dilation, m.padding, m.stride).transpose(1, 2)  # (B,T,in·k²)
                    D = d.reshape(B, d.shape[1], -1).transpose(1, 2)  # (B,T,out)
                if has_w:
                    sq, dot, gs = _seq_stats(A, D, None if vW is None else vW.reshape(W.shape[0], -1),
                                             self.gram, self.want_sq, self.want_sum)
                    if gs is not None:
                        self._acc(names["weight"], gs.reshape(W.shape))
                dsum = D.sum(1)
            if "bias" in names:
                if self.want_sq:
                    sq = _add(sq, dsum.pow(2).sum(1))
                if v is not None:
                    dot = _add(dot, dsum @ v[names["bias"]])
                self._acc(names["bias"], dsum.sum(0))
        else:  # local: materialise this module's per-sample gradients with vmap(grad)
            g = self._local_grads(m, names, a, d)
            for ln, full in names.items():
                gi = g[ln].reshape(B, -1)
                if self.want_sq:
                    sq = _add(sq, gi.pow(2).sum(1))
                if v is not None:
                    dot = _add(dot, gi @ v[full].reshape(-1))
                self._acc(full, g[ln].sum(0))
        if sq is not None:
            self.sq = _add(self.sq, sq.detach())
        if dot is not None:
            self.dot = _add(self.dot, dot.detach())

    def _local_grads(self, m, names, a, d) -> ParamDict:
        from torch.func import functional_call, grad, vmap

        p = {ln: getattr(m, ln).detach() for ln in names}

        def contrib(p, ai, di):
            return (functional_call(m, p, (ai[None],))[0] * di).sum()

        self.active = False
        try:
            with torch.enable_grad(), _math_sdpa():
                return vmap(grad(contrib), in_dims=(None, 0, 0))(p, a, d)
        finally:
            self.active = True


def _global_grads(model: nn.Module, names: list[str], xb, yb, stable: bool = True) -> ParamDict:
    """Per-sample gradients of the parameters ``names`` through the whole network (vmap(grad)).
    ``stable``: differentiate ``<r, z>`` with the detached :func:`ce_residual` ``r`` (same
    gradient, no float32 cancellation), else autograd's cross-entropy."""
    from torch.func import functional_call, grad, vmap

    all_p = {k: p.detach() for k, p in model.named_parameters()}
    sub = {k: all_p[k] for k in names}
    rest = {k: t for k, t in all_p.items() if k not in sub}
    buffers = dict(model.named_buffers())

    def loss(sub, xi, yi):
        out = functional_call(model, ({**rest, **sub}, buffers), (xi[None],))
        if stable:
            return (ce_residual(out, yi[None]) * out).sum()
        return F.cross_entropy(out, yi[None])

    with torch.enable_grad(), _math_sdpa():
        return vmap(grad(loss), in_dims=(None, 0, 0))(sub, xb, yb)


def _hook_pass(model: nn.Module, x, y, v=None, norm=None, chunk_size: int = 256, progress: bool = False,
               want_sum: bool = True, want_sq: bool = True, gram: str = "auto", desc: str = "‖g_i‖² (hooks)",
               indices: np.ndarray | None = None) -> PassResult:
    """One backward pass per chunk giving Σ_i g_i, ‖g_i‖² and (if ``v``) <g_i, v>."""
    if gram not in ("auto", "always", "never"):
        raise ValueError(f"gram must be auto, always or never, got {gram!r}")
    if indices is not None:
        x, y = x[np.asarray(indices)], np.asarray(y)[np.asarray(indices)]
    device, dtype = _device_dtype(model)
    params = _params(model)
    names = list(params)
    vd = None if v is None else _as_vdict(v, params)
    n = len(y)
    sq_all = np.zeros(n, np.float64) if want_sq else None
    dot_all = np.zeros(n, np.float64) if vd is not None else None
    total = [torch.zeros_like(p) for p in params.values()] if want_sum else None
    col = _Collector(model, vd, gram, want_sq, want_sum)
    with _eval_mode(model):
        for s in _chunks(n, chunk_size, progress, desc):
            xb, yb = _batch(x, y, s, s + chunk_size, norm, device, dtype)
            if not col.kind:
                col.plan(xb)
                col.attach()
            col.sq = col.dot = None
            col.gsum = {}
            # Backpropagate to the input only: the hooks produce every layer's per-sample terms and
            # summed gradient, so autograd computes no weight gradients (their cost would be paid twice).
            xb.requires_grad_(True)
            try:
                z = model(xb)
                torch.autograd.grad(z, [xb], grad_outputs=ce_residual(z, yb))
            except BaseException:
                col.detach()
                raise
            del z
            if col.fallback:
                col.active = False
                gg = _global_grads(model, col.fallback, xb.detach(), yb)
                col.active = True
                for k, g in gg.items():
                    gi = g.reshape(len(yb), -1)
                    if want_sq:
                        col.sq = _add(col.sq, gi.pow(2).sum(1))
                    if vd is not None:
                        col.dot = _add(col.dot, gi @ vd[k].reshape(-1))
                    col._acc(k, g.sum(0))
            if want_sum:
                for k, t in zip(names, total):
                    if k in col.gsum:
                        t += col.gsum[k]
            sl = slice(s, s + len(yb))
            if want_sq and col.sq is not None:
                sq_all[sl] = col.sq.double().cpu().numpy()
            if vd is not None and col.dot is not None:
                dot_all[sl] = col.dot.double().cpu().numpy()
    col.detach()
    gsum = {k: t for k, t in zip(names, total)} if want_sum else None
    return PassResult(gsum, sq_all, dot_all, n)


def grad_sqnorm(model: nn.Module, x, y, norm=None, chunk_size: int = 256, progress: bool = False,
                gram: str = "auto") -> np.ndarray:
    """Exact ``‖g_i‖²`` for every row (float64, (n,)), eval mode, via the per-layer
    identities of the module docstring inside one backward pass per chunk."""
    return _hook_pass(model, x, y, norm=norm, chunk_size=chunk_size, progress=progress,
                      want_sum=False, gram=gram).sq


# --- what MoSo needs at one checkpoint -------------------------------------------

@dataclass
class GradStats:
    """At one checkpoint: ``gbar`` (ḡ, or its subsample estimate), ``gbar_sqnorm`` = ‖ḡ‖²,
    per-sample ``dot`` = <g_i, ḡ> and ``sqnorm`` = ‖g_i‖², ``n`` rows."""

    gbar: ParamDict
    gbar_sqnorm: float
    dot: np.ndarray
    sqnorm: np.ndarray
    n: int
    subsample: np.ndarray | None = None  # gbar="subsample": the rows ḡ was estimated from


def gradient_stats(model: nn.Module, x, y, norm=None, chunk_size: int = 256, progress: bool = False,
                   gbar: str = "exact", gbar_fraction: float = 0.1, seed: int = 0, gram: str = "auto",
                   dot_method: str = "jvp") -> GradStats:
    """ḡ, <g_i, ḡ> and ‖g_i‖² for every row (the inputs of MoSo's Eq. 4 with its
    leave-one-out gradient ``∇L_{S∖i} = (n·ḡ − g_i)/(n−1)``).

    ``gbar="exact"``: pass 1 = backward over all rows (Σ g_i and ‖g_i‖² by hooks),
    pass 2 = forward-mode jvp along ḡ (``dot_method="hooks"``: a second backward).
    ``gbar="subsample"``: ḡ estimated from a seeded subsample ``R`` of
    ``m = ceil(gbar_fraction·n)`` rows — one backward pass over ``R`` only (Σ g_i and
    ‖g_i‖² of those rows by hooks) — then the jvp pass over all rows along ``ḡ_R``.
    ``sqnorm`` is NaN outside ``R`` and ``subsample`` holds ``R``: the leave-one-out
    gradient is then estimated by ``ḡ_R`` for a row outside ``R`` and by
    ``(m·ḡ_R − g_i)/(m−1)`` for a row inside
    (:func:`prunebench.methods.moso.scorer.moso_checkpoint_scores`), each an unbiased
    estimate of ``∇L_{S∖i}`` that needs no ‖g_i‖² outside ``R`` (≈ fraction + ⅓ epoch)."""
    n = len(y)
    if gbar == "exact":
        p1 = _hook_pass(model, x, y, norm=norm, chunk_size=chunk_size, progress=progress, gram=gram,
                        desc="ḡ + ‖g_i‖²")
        gb = {k: t / n for k, t in p1.gsum.items()}
        if dot_method == "jvp":
            dot = grad_dot(model, x, y, gb, norm, chunk_size, progress)
        else:
            dot = _hook_pass(model, x, y, v=gb, norm=norm, chunk_size=chunk_size, progress=progress,
                             want_sum=False, want_sq=False, gram=gram, desc="<g_i, ḡ>").dot
        sq, sub = p1.sq, None
    elif gbar == "subsample":
        if not 0 < gbar_fraction <= 1:
            raise ValueError(f"gbar_fraction must lie in (0, 1], got {gbar_fraction}")
        m = max(1, int(np.ceil(gbar_fraction * n)))
        idx = np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))
        p1 = _hook_pass(model, x, y, norm=norm, chunk_size=chunk_size, progress=progress, gram=gram,
                        desc="ḡ_sub + ‖g_i‖² (subsample)", indices=idx)
        gb = {k: t / m for k, t in p1.gsum.items()}
        dot = grad_dot(model, x, y, gb, norm, chunk_size, progress)
        sq, sub = np.full(n, np.nan), idx
        sq[idx] = p1.sq
    else:
        raise ValueError(f"gbar must be 'exact' or 'subsample', got {gbar!r}")
    return GradStats(gb, dict_dot(gb, gb), dot, sq, n, sub)


# --- independent references -------------------------------------------------------

def reference_per_sample(model: nn.Module, x, y, v, norm=None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(<g_i, v>, ‖g_i‖²)`` by a plain batch-size-1 autograd loop in eval mode
    (the authors' release computes MoSo this way). Independent of the fast path."""
    device, dtype = _device_dtype(model)
    params = _params(model)
    plist = list(params.values())
    vflat = flatten(_as_vdict(v, params))
    n = len(y)
    dots, sqs = np.zeros(n), np.zeros(n)
    with _eval_mode(model):
        for i in tqdm(range(n), desc="batch-1 reference", disable=not progress, leave=False, mininterval=2.0):
            xb, yb = _batch(x, y, i, i + 1, norm, device, dtype)
            g = torch.autograd.grad(F.cross_entropy(model(xb), yb), plist)
            gf = torch.cat([t.reshape(-1) for t in g])
            dots[i] = float((gf.double() * vflat.double()).sum())
            sqs[i] = float(gf.double().pow(2).sum())
    return dots, sqs


def per_sample_vmap(model: nn.Module, x, y, v, norm=None, chunk_size: int = 64,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(<g_i, v>, ‖g_i‖²)`` by materialising per-sample gradients with chunked
    ``torch.func.vmap(grad)`` of autograd's cross-entropy (memory ∝ chunk_size ×
    #params). For comparison/benchmarks."""
    device, dtype = _device_dtype(model)
    params = _params(model)
    vd = _as_vdict(v, params)
    n = len(y)
    dots, sqs = np.zeros(n), np.zeros(n)
    with _eval_mode(model):
        for s in _chunks(n, chunk_size, progress, "vmap(grad)"):
            xb, yb = _batch(x, y, s, s + chunk_size, norm, device, dtype)
            g = _global_grads(model, list(params), xb, yb, stable=False)
            d = sum((g[k].reshape(len(yb), -1) * vd[k].reshape(1, -1)).sum(1) for k in g)
            q = sum(g[k].reshape(len(yb), -1).pow(2).sum(1) for k in g)
            dots[s : s + len(yb)] = d.double().cpu().numpy()
            sqs[s : s + len(yb)] = q.double().cpu().numpy()
    return dots, sqs


__all__ = [
    "mean_gradient", "grad_dot", "grad_sqnorm", "gradient_stats", "GradStats", "reference_per_sample",
    "per_sample_vmap", "flatten", "dict_dot",
]

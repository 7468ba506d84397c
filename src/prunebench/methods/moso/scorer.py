"""MoSo — Data Pruning via Moving-one-Sample-out (Tan et al., NeurIPS 2023, arXiv 2310.14664).

Definition (the paper's MoSo score): the change of the empirical risk on the
remaining samples when ``z`` is left out of training,

    M(z) = L(S∖z; w_{S∖z}) − L(S∖z; w_S),   L(A; w) = (1/|A|) Σ_{z'∈A} ℓ(z'; w),

with ``w_A`` the parameters trained on ``A``. A sample whose removal raises the
risk of the others (large ``M``) is informative: **keep high**.

First-order approximator (paper Eq. 4 — the authors' README: "sample checkpoints
uniformly along training (this estimates the expectation in Eq. 4)"): if training on
``S`` takes steps ``w_{t+1} = w_t − η_t ∇L(S; w_t)``, leaving ``z`` out removes
the term ``(η_t/N)∇ℓ(z; w_t)`` from every step, and to first order

    M(z) ≈ Σ_t (η_t/N) ∇L(S∖z; w_t)ᵀ ∇ℓ(z; w_t) = (T/N) E_{t∼U{1..T}} [η_t ∇L(S∖z; w_t)ᵀ ∇ℓ(z; w_t)],

estimated by a few checkpoints sampled along surrogate training. With
``ḡ = ∇L(S; w_t)`` and ``g_z = ∇ℓ(z; w_t)`` the leave-one-out gradient is
``∇L(S∖z) = (N·ḡ − g_z)/(N−1)``, so per checkpoint the score needs only
``<g_z, ḡ>`` and ``‖g_z‖²`` (see :mod:`prunebench.grads`):

    s_t(z) = η_t · (N<g_z, ḡ> − ‖g_z‖²)/(N−1).

Sign check: aligned with the average gradient ⇒ positive ⇒ kept (the paper's
"samples with gradients that are consistently aligned with the average gradient of the training set are
more informative and should receive higher scores").

``formula="release"`` reproduces instead what the authors' ``scoring.py``
(``MoSo_scoring_exact``, github.com/hrtan/MoSo) computes per checkpoint,
``[(2N−3)‖ḡ‖² − ‖g‖² + (2N−4)(<ḡ,g> − ‖g‖²/N)]/(N−1)²`` × lr (its ‖ḡ‖² term is a
per-checkpoint constant; within a partition it changes only the weight of the
‖g‖² correction, ≈1.5/N instead of 1/N). ``formula="renormalised"`` is our
first-order-exact variant for the mean loss (see :func:`moso_checkpoint_scores`). The release sums over checkpoints
(``aggregate="sum"``); the default here is the mean (Eq. 4's expectation; the
constant T/N factor does not change the ranking).

Partitions (paper Algorithm 1, "parallel acceleration"; release: 8 disjoint
partitions, one surrogate each): sample ``z`` in partition ``k`` is scored with
surrogate ``k`` and the partition-local ``ḡ`` and ``N = |S_k|``.
"""

from __future__ import annotations

import numpy as np

from ...scorers.base import Protocol, T_within_checkpoints, all_of, register_scorer
from ...train.surrogate import partition_indices  # noqa: F401  (the release's partitions; re-exported)

PAPER = "Tan et al., NeurIPS 2023, arXiv 2310.14664"
FORMULAS = ("paper", "release", "renormalised")


# --- pure functions (shared by the scorer and the agreement study) ---------------

def moso_checkpoint_scores(dot, sqnorm, n: int, lr: float, gbar_sqnorm: float | None = None,
                           loo_correction: bool = True, formula: str = "paper",
                           subsample: np.ndarray | None = None) -> np.ndarray:
    """Per-sample MoSo term at one checkpoint (Tan et al. 2023, Eq. 4), float64 (n,).

    ``dot`` = <g_i, ḡ>, ``sqnorm`` = ‖g_i‖², ``n`` = |S| (of the partition),
    ``lr`` = η_t. ``formula="paper"``: ``η_t·<g_i, ∇L_{S∖i}>`` with
    ``∇L_{S∖i} = (n·ḡ − g_i)/(n−1)`` (``loo_correction=False``: ``η_t·<g_i, ḡ>``).
    ``formula="release"``: the authors' ``MoSo_scoring_exact`` expression (needs
    ``gbar_sqnorm`` = ‖ḡ‖²). ``formula="renormalised"`` (our derivation, not in the
    paper): ``η_t(<g_i, G_i> − ‖G_i‖²)``, ``G_i = ∇L_{S∖i}``, the exact first-order
    effect of one full-batch GD step on the *mean* loss (dropping z_i also
    rescales the other samples' weights from 1/n to 1/(n−1)); it differs from
    the paper's term by ``−η_t‖G_i‖²``, which is nearly constant across samples.

    ``subsample`` (``gbar="subsample"``: the rows ``R`` that ḡ was estimated from, ``m = |R|``;
    ``sqnorm`` needed on ``R`` only): ``∇L_{S∖i}`` is estimated by ``ḡ_R`` for a row outside ``R``
    and by ``(m·ḡ_R − g_i)/(m−1)`` for a row inside — for every row the mean gradient of a uniform
    subsample of the *other* rows, hence unbiased. Paper formula only: the others need ‖g_i‖² of
    every row, i.e. a backward pass over all of them (use ``gbar="exact"``)."""
    dot = np.asarray(dot, np.float64)
    sq = np.asarray(sqnorm, np.float64)
    if n < 2:
        raise ValueError(f"MoSo needs at least 2 samples, got n = {n}")
    if subsample is not None and formula != "paper":
        raise ValueError(f"gbar='subsample' supports formula='paper' only: formula={formula!r} needs ‖g_i‖² "
                         "of every sample, a backward pass over all of them; use gbar='exact'")
    if formula == "paper":
        if not loo_correction:
            s = dot
        elif subsample is None:
            s = (n * dot - sq) / (n - 1)
        else:  # the leave-one-out mean over R, for the rows of R
            idx, m = np.asarray(subsample), len(subsample)
            if m < 2:
                raise ValueError(f"the leave-one-out estimate from a subsample needs at least 2 rows, got {m}: "
                                 "raise gbar_fraction")
            s = dot.copy()
            s[idx] = (m * dot[idx] - sq[idx]) / (m - 1)
    elif formula in ("release", "renormalised"):
        if gbar_sqnorm is None:
            raise ValueError(f"formula={formula!r} needs gbar_sqnorm = ‖ḡ‖²")
        if formula == "release":
            s = ((2 * n - 3) * gbar_sqnorm - sq + (2 * n - 4) * (dot - sq / n)) / (n - 1) ** 2
        else:
            loo_dot = (n * dot - sq) / (n - 1)
            loo_sq = (n * n * gbar_sqnorm - 2 * n * dot + sq) / (n - 1) ** 2
            s = loo_dot - loo_sq
    else:
        raise ValueError(f"unknown MoSo formula {formula!r}; use one of {FORMULAS}")
    return float(lr) * s


def aggregate_checkpoints(per_ckpt, how: str = "mean") -> np.ndarray:
    """Combine the (T, n) per-checkpoint terms: ``mean`` (Eq. 4's expectation over
    sampled checkpoints) or ``sum`` (the release)."""
    a = np.asarray(per_ckpt, np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"expected a (T ≥ 1, n) array of per-checkpoint scores, got shape {a.shape}")
    if how == "mean":
        return a.mean(0)
    if how == "sum":
        return a.sum(0)
    raise ValueError(f"aggregate must be 'mean' or 'sum', got {how!r}")


# --- the torch side ------------------------------------------------------------------

def _stats_reference(model, x, y, norm):
    """ḡ and the per-sample terms by the authors' two batch-size-1 passes."""
    import torch
    import torch.nn.functional as F

    from ... import grads as G

    device, dtype = G._device_dtype(model)
    params = G._params(model)
    plist = list(params.values())
    total = [torch.zeros_like(p) for p in plist]
    with G._eval_mode(model):
        for i in range(len(y)):
            xb, yb = G._batch(x, y, i, i + 1, norm, device, dtype)
            for t, g in zip(total, torch.autograd.grad(F.cross_entropy(model(xb), yb), plist)):
                t += g
    gb = {k: t / len(y) for k, t in zip(params, total)}
    dot, sq = G.reference_per_sample(model, x, y, gb, norm)
    return G.GradStats(gb, G.dict_dot(gb, gb), dot, sq, len(y))


def moso_run_scores(run, x, y, T: int = 10, aggregate: str = "mean", loo_correction: bool = True,
                    gbar: str = "exact", gbar_fraction: float = 0.1, reference: bool = False,
                    chunk_size: int = 256, device="cpu", seed: int = 0, formula: str = "paper",
                    progress: bool = False, gram: str = "auto") -> np.ndarray:
    """MoSo scores of the rows ``(x, y)`` from one surrogate ``run`` (a
    :class:`~prunebench.train.surrogate.SurrogateRun` trained on exactly these rows):
    for each of ``run.sampled_checkpoints(T)``, load θ_t and η_t, get <g_i, ḡ>,
    ‖g_i‖² (fast path, or ``reference``: batch-1 loops), apply
    :func:`moso_checkpoint_scores`, then :func:`aggregate_checkpoints`."""
    from ... import grads as G

    n = len(y)
    per = []
    for t, ck in enumerate(run.sampled_checkpoints(T)):
        model = run.load_model(ck, device=device)
        if reference:
            st = _stats_reference(model, x, y, run.norm)
        else:
            sub_seed = int(np.random.default_rng([seed, 0x4D6F536F, t]).integers(2**31))
            st = G.gradient_stats(model, x, y, run.norm, chunk_size, progress, gbar, gbar_fraction, sub_seed, gram)
        per.append(moso_checkpoint_scores(st.dot, st.sqnorm, n, ck["lr"], st.gbar_sqnorm, loo_correction, formula,
                                          st.subsample))
        del model
    return aggregate_checkpoints(np.stack(per), aggregate)


def subsample_with_paper_formula(params: dict, sur: dict) -> str | None:
    """``gbar="subsample"`` goes with ``formula="paper"`` (see :func:`moso_checkpoint_scores`)."""
    if params.get("gbar") == "subsample" and params.get("formula", "paper") != "paper":
        return (f"gbar = subsample supports formula = paper only (formula = {params['formula']} needs ‖g_i‖² of "
                "every sample); use gbar = exact")
    return None


@register_scorer("moso", keep="high", paper=PAPER, T=10, aggregate="mean", loo_correction=True, gbar="exact",
                 gbar_fraction=0.1, partitions=1, partition_mode="contiguous", partition_seed=0, reference=False,
                 chunk_size=None, formula="paper", gram="auto", studies=("agreement",),
                 check=all_of(T_within_checkpoints, subsample_with_paper_formula),
                 protocol=Protocol("hrtan/MoSo retraining.py (nopt2), scoring.py", selection="classeq",
                                   view="eval mode, augmented training transform, batch size 1, checkpoints drawn among epoch ends",
                                   notes="the paper's formula by default; the release's whole pipeline (partition "
                                         "surrogates, random epoch-end checkpoints, its formula summed) is the "
                                         "config's moso-release variant"))
def moso(ctx, T: int = 10, aggregate: str = "mean", loo_correction: bool = True, gbar: str = "exact",
         gbar_fraction: float = 0.1, partitions: int = 1, partition_mode: str = "contiguous", partition_seed: int = 0,
         reference: bool = False, chunk_size: int | None = None, formula: str = "paper",
         gram: str = "auto") -> np.ndarray:
    """MoSo first-order score: lr-weighted <g_i, ∇L_{S∖i}> over T sampled surrogate checkpoints (Eq. 4).

    ``T`` checkpoints (default 10, the paper's and release's choice) from
    ``ctx.surrogate.sampled_checkpoints(T)``; ``aggregate`` mean (default) or
    sum (release); ``loo_correction`` (default on: ∇L_{S∖i} rather than ḡ);
    ``gbar`` exact (default) or subsample (``gbar_fraction`` of the rows, seeded
    from ``ctx.seed``); ``formula`` paper (default) or release; ``reference``
    uses the authors' batch-size-1 loops instead of the fast path (same numbers,
    much slower); ``partitions`` > 1: ``ctx.surrogates[k]`` must be trained on
    ``partition_indices(n, partitions, partition_mode, partition_seed)[k]`` and
    scores that partition with its own ḡ and N. Gradients in eval mode."""
    cs = int(chunk_size or ctx.chunk_size)
    kw = dict(T=T, aggregate=aggregate, loo_correction=loo_correction, gbar=gbar, gbar_fraction=gbar_fraction,
              reference=reference, chunk_size=cs, device=ctx.device, formula=formula, progress=ctx.progress,
              gram=gram)
    runs = ctx.surrogates
    found = runs[0].meta.get("partition")
    if found is not None and partitions == 1:  # partition surrogates given: score as they were trained
        partitions, partition_mode, partition_seed = found["count"], found["mode"], found["seed"]
    if partitions == 1:
        return moso_run_scores(ctx.surrogate, ctx.x, ctx.y, seed=ctx.seed, **kw)
    parts = partition_indices(ctx.n, partitions, partition_mode, partition_seed)
    if len(runs) != partitions:
        raise ValueError(f"moso with partitions={partitions} needs one surrogate per partition, got {len(runs)}")
    scores = np.full(ctx.n, np.nan)
    for k, (run, idx) in enumerate(zip(runs, parts)):
        check_partition_run(run, idx, k, partitions, partition_mode, partition_seed)
        scores[idx] = moso_run_scores(run, ctx.x[idx], np.asarray(ctx.y)[idx], seed=ctx.seed * 1000 + k, **kw)
    return scores


def check_partition_run(run, idx: np.ndarray, k: int, partitions: int, mode: str, seed: int) -> None:
    """A partition surrogate must have been trained on exactly partition ``k``: its
    ``meta["n"]`` must equal the partition size and, when present, its
    ``meta["partition"]`` must read ``{"index": k, "count": partitions, "mode": mode, "seed": seed}``."""
    meta = run.meta
    if meta["n"] != len(idx):
        raise ValueError(f"{getattr(run, 'path', run)}: surrogate trained on {meta['n']} samples, "
                         f"partition {k} of {partitions} has {len(idx)}")
    want = {"index": k, "count": partitions, "mode": mode, "seed": seed}
    got = meta.get("partition")
    if got is not None and {key: got.get(key) for key in want} != want:
        raise ValueError(f"{getattr(run, 'path', run)}: surrogate is partition {got}, expected {want}")


# --- exact leave-one-out -------------------------------------------------------------

def risk_without(losses: np.ndarray, i: int) -> float:
    """Mean of ``losses`` over every index but ``i`` (L(S∖z_i; ·))."""
    return float((losses.sum() - losses[i]) / (len(losses) - 1))


def moso_exact_tiny(X, y, num_classes: int, model: str = "logreg", steps: int = 200, lr: float = 0.5,
                    weight_decay: float = 1e-3, hidden: int = 16, seed: int = 0,
                    schedule: str = "constant") -> np.ndarray:
    """Exact MoSo on the tiny harness (:mod:`prunebench.exact`, the paper's definition):
    ``M(z_i) = L(S∖z_i; w_{S∖z_i}) − L(S∖z_i; w_S)`` where both models are trained by
    the same deterministic full-batch GD (same init, steps, lr; weight 0 removes
    ``z_i``) and the risk is the plain mean cross-entropy (no weight decay) over the
    n−1 remaining samples. The n + 1 trainings run as one batch
    (:func:`prunebench.exact.train_many`, row 0 = all of S)."""
    n = len(np.asarray(y))
    weights = np.vstack([np.ones((1, n)), 1.0 - np.eye(n)])
    losses = tiny_losses(X, y, num_classes, weights, model, steps, lr, weight_decay, hidden, seed, schedule)
    return np.array([risk_without(losses[i + 1], i) - risk_without(losses[0], i) for i in range(n)])


def tiny_losses(X, y, num_classes: int, weights, model: str = "logreg", steps: int = 200, lr: float = 0.5,
                weight_decay: float = 1e-3, hidden: int = 16, seed: int = 0, schedule: str = "constant") -> np.ndarray:
    """Per-sample losses ``(M, n)`` of the M models trained with the rows of ``weights``."""
    import torch

    from ... import exact

    params = exact.train_many(X, y, num_classes, weights, model, steps, lr, weight_decay, hidden, seed,
                              schedule=schedule)
    Xt, yt = torch.as_tensor(np.asarray(X), dtype=torch.float64), torch.as_tensor(np.asarray(y), dtype=torch.long)
    with torch.no_grad():
        return np.stack([exact.per_sample_loss(exact.unstack(params, m), Xt, yt, model).numpy()
                         for m in range(len(weights))])


def tiny_checkpoint_stats(traj, X, y, model: str = "logreg", steps_idx=None) -> list[tuple]:
    """``(<g_i, ḡ>, ‖g_i‖², ‖ḡ‖², η_t)`` at the trajectory points ``steps_idx``
    (default: every step) of a :class:`prunebench.exact.Trajectory`."""
    from ... import exact

    ts = range(len(traj.lrs)) if steps_idx is None else steps_idx
    out = []
    for t in ts:
        G = exact.per_sample_grads(traj.params[t], X, y, model)
        gbar = G.mean(0)
        out.append(((G @ gbar).numpy(), (G * G).sum(1).numpy(), float(gbar @ gbar), traj.lrs[t]))
    return out


def moso_from_stats(stats: list[tuple], n: int, aggregate: str = "mean", loo_correction: bool = True,
                    formula: str = "paper") -> np.ndarray:
    """:func:`moso_checkpoint_scores` at every ``(dot, sqnorm, ‖ḡ‖², lr)`` of ``stats``,
    then :func:`aggregate_checkpoints` — the scorer's arithmetic."""
    per = [moso_checkpoint_scores(d, q, n, lr, gsq, loo_correction, formula) for d, q, gsq, lr in stats]
    return aggregate_checkpoints(np.stack(per), aggregate)


def moso_first_order_tiny(X, y, num_classes: int, model: str = "logreg", steps: int = 200, lr: float = 0.5,
                          weight_decay: float = 1e-3, hidden: int = 16, seed: int = 0, schedule: str = "constant",
                          T: int | None = None, aggregate: str = "mean", loo_correction: bool = True,
                          formula: str = "paper", traj=None, stats: list[tuple] | None = None) -> np.ndarray:
    """The scorer's first-order MoSo (same :func:`moso_checkpoint_scores` /
    :func:`aggregate_checkpoints`) on the tiny harness: checkpoints θ_t of the
    full-batch GD trajectory with their lrs η_t — all ``steps`` of them
    (``T=None``) or ``T`` spread evenly as the surrogate saves them
    (:func:`prunebench.train.surrogate.checkpoint_steps`). Gradients are of the
    per-sample cross-entropy (no weight decay), as in the scorer. ``stats``: the
    every-step output of :func:`tiny_checkpoint_stats`, to reuse across variants."""
    from ... import exact
    from ...train.surrogate import checkpoint_steps

    if stats is None:
        if traj is None:
            traj = exact.trajectory(X, y, num_classes, None, model, steps, lr, weight_decay, hidden, seed,
                                    schedule=schedule)
        stats = tiny_checkpoint_stats(traj, X, y, model)
    if T is not None:
        stats = [stats[t] for t in checkpoint_steps(len(stats), T, "even")]
    return moso_from_stats(stats, len(np.asarray(y)), aggregate, loo_correction, formula)


MAX_EXACT_N = 64


def moso_exact_fit(x, y, arch: str, recipe: dict, seed: int, in_shape, num_classes: int, norm=None,
                   model_kw: dict | None = None, device="cpu", threads: int = 1) -> np.ndarray:
    """Exact MoSo (the paper's definition) for a real architecture and recipe: train on S and on each
    S∖z_i with :func:`prunebench.train.fit` — same recipe, same seed (hence the same
    init, :func:`~prunebench.train.set_determinism` before building the model as
    the surrogate does) — and evaluate the mean cross-entropy on S∖z_i in eval
    mode. n + 1 trainings. With minibatch SGD the batches of S∖z_i differ from
    those of S (the shuffle is over n−1 indices), which is part of the finite
    procedure's definition."""
    import torch
    import torch.nn.functional as F

    from ...models import build_model
    from ...train import Recipe, fit, predict, set_determinism

    rec = Recipe.from_dict(recipe)
    y = np.asarray(y)
    n = len(y)

    def train_on(idx):
        set_determinism(seed, threads)
        m = build_model(arch, tuple(in_shape), num_classes, **(model_kw or {}))
        fit(m, x[idx], y[idx], rec, seed, torch.device(device) if isinstance(device, str) else device,
            norm=norm, progress=False)
        logits = torch.as_tensor(predict(m, x, device, norm)).double()
        return F.cross_entropy(logits, torch.as_tensor(y), reduction="none").numpy()

    full = train_on(np.arange(n))
    out = np.zeros(n)
    for i in range(n):
        li = train_on(np.delete(np.arange(n), i))
        out[i] = risk_without(li, i) - risk_without(full, i)
    return out


@register_scorer("moso_exact", keep="high", paper=PAPER, force=False,
                 protocol=Protocol("no release: exact leave-one-out retraining, the ground truth of MoSo's estimate",
                                   selection="classeq", view="—"))
def moso_exact(ctx, force: bool = False) -> np.ndarray:
    """Exact MoSo by leave-one-out retraining with the surrogate's architecture and recipe (n + 1 fits).

    Refuses n > 64 unless ``force=True``."""
    if ctx.n > MAX_EXACT_N and not force:
        raise ValueError(f"moso_exact retrains the surrogate recipe n + 1 = {ctx.n + 1} times; it is meant for "
                         f"n ≤ {MAX_EXACT_N} (set force=True to run it anyway)")
    run = ctx.surrogate
    m = run.meta
    return moso_exact_fit(ctx.x, ctx.y, m["arch"], m["recipe"], m["seed"], m["in_shape"], m["num_classes"],
                          run.norm, m.get("model_kw", {}), ctx.device, ctx.threads)

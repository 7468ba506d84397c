"""Baseline scorers from the data-pruning literature (GraNd, AUM, uncertainty).

Each registered scorer is a thin wrapper around a pure function (arrays in,
vector out). Conventions: scores are float64, one per training sample in the
original order; the registry's ``keep`` says which side a plain ``keep``
selection retains. Only the *training* labels (``ctx.y``) are ever read.
"""

from __future__ import annotations

import numpy as np

from ..numeric import error_l2, softmax
from .base import Protocol, all_of, epoch_in_range, register_scorer
from .dynamics import check_eval_pass

# --- pure functions -------------------------------------------------------


def grand_last_layer(logits: np.ndarray, feats: np.ndarray, y: np.ndarray, bias: bool = True) -> np.ndarray:
    """GraNd restricted to the last linear layer, in closed form.

    For cross-entropy on logits ``z = W h + b`` the per-sample gradient is
    ``∂ℓ/∂W = (p − e_y) hᵀ`` and ``∂ℓ/∂b = p − e_y`` with ``p = softmax(z)``, so

        ‖∇_{W,b} ℓ‖₂ = ‖p − e_y‖₂ · ‖[h, 1]‖₂ = ‖p − e_y‖₂ · sqrt(‖h‖² + 1)

    (without a bias the ``+ 1`` goes). This is the last-layer approximation
    DeepCore uses for GraNd (Paul et al. 2021, Sec. 2, restricted to the head;
    DeepCore differentiates a cross-entropy applied to softmax outputs, i.e. a
    double softmax — here the plain cross-entropy gradient is used).
    """
    h = np.asarray(feats, dtype=np.float64).reshape(len(y), -1)
    hn2 = (h * h).sum(axis=1) + (1.0 if bias else 0.0)
    return error_l2(softmax(logits), y) * np.sqrt(hn2)


def area_under_margin(margins: np.ndarray, epochs: int | None = None) -> np.ndarray:
    """AUM (Pleiss et al., NeurIPS 2020, arXiv 2001.10528, Sec. 3): the mean over
    training epochs t = 1..T of the margin M_t = z_y − max_{i≠y} z_i (logits of
    the training forward pass). ``epochs`` keeps only the first T recorded
    epochs (the paper stops at the first learning-rate drop); default all."""
    m = np.asarray(margins, dtype=np.float64)
    if epochs is not None:
        if not 1 <= epochs <= m.shape[0]:
            raise ValueError(f"AUM epochs = {epochs} outside 1..{m.shape[0]} recorded epochs")
        m = m[:epochs]
    return m.mean(axis=0)


def entropy_scores(logits: np.ndarray) -> np.ndarray:
    """Predictive entropy H(p) = −Σ_k p_k log p_k (natural log); high = uncertain.
    DeepCore "Uncertainty/Entropy" (Coleman et al., ICLR 2020 "Selection via Proxy")."""
    p = softmax(logits)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    return -plogp.sum(axis=1)


def least_confidence_scores(logits: np.ndarray) -> np.ndarray:
    """Least confidence 1 − max_k p_k; high = uncertain (Coleman et al. 2020;
    DeepCore "LeastConfidence", which uses −max logit instead of probability)."""
    return 1.0 - softmax(logits).max(axis=1)


def margin_scores(logits: np.ndarray) -> np.ndarray:
    """Prediction margin p_(1) − p_(2) between the two most probable classes (no
    label used); *low* = uncertain (Coleman et al. 2020; DeepCore "Margin")."""
    p = softmax(logits)
    if p.shape[1] < 2:
        raise ValueError("margin needs at least two classes")
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def static_uncertainty(prob: np.ndarray, drop_last: bool = True) -> np.ndarray:
    """Static uncertainty: standard deviation (ddof=0) over *all* recorded epochs
    of the training-label probability — DynUnc (He et al., arXiv 2306.05175) with
    a single window spanning the run, i.e. uncertainty without its sliding-window
    training dynamics. ``drop_last`` leaves out the last epoch, as the DynUnc
    release does."""
    p = np.asarray(prob, dtype=np.float64)
    if drop_last:
        p = p[:-1]
    if p.shape[0] < 2:
        raise ValueError(f"static uncertainty needs ≥ 2 epochs, got {p.shape[0]}")
    return p.std(axis=0)


# --- model plumbing (torch stays lazy) ------------------------------------


def logits_and_features(model, x: np.ndarray, device, norm=None, chunk_size: int = 1024):
    """``(logits, features, head_has_bias)`` of ``model`` on ``x`` in eval mode, chunked:
    features = :func:`prunebench.models.embed` (the head's input), logits = head(features)."""
    import torch

    from ..models import embed, head
    from ..train import predict

    fc = head(model)

    def both(m, xb):
        h = embed(m, xb).flatten(1)
        return torch.cat([fc(h), h], dim=1)

    out = predict(model, x, device, norm, chunk_size, fn=both)
    k = fc.out_features
    return out[:, :k], out[:, k:], fc.bias is not None


def _full_grad_norm(ctx, run, checkpoint) -> np.ndarray:
    """‖∇_θ ℓ(x_i, y_i)‖₂ over all parameters (eval mode), by :func:`prunebench.grads.grad_sqnorm`."""
    from ..grads import grad_sqnorm

    model = run.load_model(checkpoint, device=ctx.device)
    sq = grad_sqnorm(model, ctx.x, ctx.y, norm=run.norm, chunk_size=min(ctx.chunk_size, 256))
    return np.sqrt(np.asarray(sq, np.float64))


# --- registered scorers ----------------------------------------------------


@register_scorer("grand", keep="high", paper="Paul et al., NeurIPS 2021, arXiv 2107.07075", epoch=3, full=False,
                 check=all_of(epoch_in_range, lambda p, sur: None if int(p["epoch"]) in sur["save_epochs"] else (
                     f"epoch = {p['epoch']} is read at its epoch-end checkpoint, but surrogate.save_epochs = "
                     f"{sur['save_epochs']} does not save it (add {p['epoch']})")),
                 protocol=Protocol("mansheej/data_diet data_diet/scores.py, data.py (keep_max_scores)", selection="keep",
                                   view="eval mode, un-augmented, at a checkpoint",
                                   notes="the release averages over 10 runs and differentiates the whole network; "
                                         "here the last layer in closed form (full=True for all layers) and "
                                         "`average_surrogates` runs"))
def grand(ctx, epoch: int = 3, full: bool = False) -> np.ndarray:
    """GraNd: per-sample gradient norm early in training (Paul et al. 2021,
    Sec. 2: χ_t(x, y) = E_{w_t} ‖g_t(x, y)‖₂), the expectation taken as the mean
    over the surrogate runs given, each at the checkpoint saved at the end of
    ``epoch`` (one of the surrogate's ``save_epochs``; the paper's "GraNd at
    initialisation" is not offered: the surrogate never saves step 0).
    Default: last layer in closed form ‖p − e_y‖·‖[h, 1]‖ (as DeepCore);
    ``full=True``: the whole network."""
    per_run = []
    for run in ctx.surrogates:
        ck = run.epoch_checkpoint(epoch)
        if full:
            per_run.append(_full_grad_norm(ctx, run, ck))
        else:
            model = run.load_model(ck, device=ctx.device)
            logits, feats, bias = logits_and_features(model, ctx.x, ctx.device, run.norm, ctx.chunk_size)
            per_run.append(grand_last_layer(logits, feats, ctx.y, bias))
    return np.mean(per_run, axis=0)


@register_scorer("aum", keep="low", paper="Pleiss et al., NeurIPS 2020, arXiv 2001.10528", epochs=None, form="logit",
                 protocol=Protocol("paper only: asappresearch/aum ranks samples to flag mislabels, it does not "
                                   "prune", selection="keep", view="training pass",
                                   notes="under CCS (haizhongzheng/Coverage-centric-coreset-selection "
                                         "generate_importance_score.py) AUM is the sum of probability margins: "
                                         "form=prob; β grows with the ratio there (README examples 0.2 at 80 %, "
                                         "0.3 at 90 % removed, no table below), here β = 0.1"))
def aum(ctx, epochs: int | None = None, form: str = "logit") -> np.ndarray:
    """Area under the margin: mean margin over training. Low AUM = hard or
    mislabelled; as a pruning score the hard (low) side is kept. With the ``ccs``
    strategy the lowest β (likely mislabelled) are dropped first, as in CCS.
    ``form='logit'`` (Pleiss et al.): label logit − largest other logit; ``'prob'``
    (the CCS release): the same difference of softmax probabilities (a sum over
    iterations there: the mean over epochs ranks the same)."""
    if form not in ("logit", "prob"):
        raise ValueError(f"AUM form must be 'logit' or 'prob', got {form!r}")
    return area_under_margin(ctx.dynamics("margin" if form == "logit" else "pmargin"), epochs)


@register_scorer("entropy", keep="high", paper="Coleman et al., ICLR 2020, arXiv 1906.11829 (DeepCore Uncertainty)",
                 protocol=Protocol("PatrickZH/DeepCore deepcore/methods/uncertainty.py; main.py (--balance, default True)",
                                   selection="classbal", view="final model, eval mode",
                                   notes="DeepCore trains its scoring model `selection_epochs` epochs at constant lr "
                                         "without augmentation; here the surrogate's final model"))
def entropy(ctx) -> np.ndarray:
    """Predictive entropy of the final surrogate; the uncertain (high) are kept."""
    return entropy_scores(ctx.logits())


@register_scorer("least_confidence", keep="high",
                 paper="Coleman et al., ICLR 2020, arXiv 1906.11829 (DeepCore Uncertainty)",
                 protocol=Protocol("PatrickZH/DeepCore deepcore/methods/uncertainty.py; main.py (--balance, default True)",
                                   selection="classbal", view="final model, eval mode",
                                   notes="DeepCore trains its scoring model `selection_epochs` epochs at constant lr "
                                         "without augmentation; here the surrogate's final model"))
def least_confidence(ctx) -> np.ndarray:
    """1 − max softmax probability of the final surrogate; the uncertain (high) are kept."""
    return least_confidence_scores(ctx.logits())


@register_scorer("margin", keep="low", paper="Coleman et al., ICLR 2020, arXiv 1906.11829 (DeepCore Uncertainty)",
                 protocol=Protocol("PatrickZH/DeepCore deepcore/methods/uncertainty.py; main.py (--balance, default True)",
                                   selection="classbal", view="final model, eval mode",
                                   notes="DeepCore trains its scoring model `selection_epochs` epochs at constant lr "
                                         "without augmentation; here the surrogate's final model"))
def margin(ctx) -> np.ndarray:
    """Top-1 − top-2 softmax probability of the final surrogate; the uncertain (low) are kept."""
    return margin_scores(ctx.logits())


@register_scorer("static_unc", keep="high", paper="He et al., CVPR 2024, arXiv 2306.05175 (static baseline)",
                 drop_last=True, view="train", check=check_eval_pass,
                 protocol=Protocol("BAAI-DCAI/Dataset-Pruning (DynUnc's release; the paper's static baseline)",
                                   selection="keep", view="eval mode, un-augmented, every step (before the update)",
                                   params={"view": "eval"}, uniform={"view": "train"}))
def static_unc(ctx, drop_last: bool = True, view: str = "train") -> np.ndarray:
    """Std of the training-label probability over the whole surrogate run (``view`` as DynUnc's)."""
    return static_uncertainty(ctx.dynamics("prob", view), drop_last)

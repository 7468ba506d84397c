"""Scorers computed from the recorded training dynamics (no extra passes).

Each registered scorer wraps a pure function of ``(epochs, n)`` arrays.
"""

from __future__ import annotations

import numpy as np

from ..numeric import error_l2, softmax
from .base import Protocol, all_of, epoch_in_range, register_scorer

# --- pure functions -------------------------------------------------------

def el2n_from_dynamics(el2n: np.ndarray, epoch: int) -> np.ndarray:
    """EL2N at (1-based) ``epoch``: ‖softmax(f(x)) − onehot(y)‖₂ of that epoch."""
    if not 1 <= epoch <= el2n.shape[0]:
        raise ValueError(f"el2n epoch {epoch} outside 1..{el2n.shape[0]}")
    return el2n[epoch - 1].astype(np.float64)


def forgetting_counts(correct: np.ndarray, never_learned: str = "max") -> np.ndarray:
    """Forgetting events (Toneva et al. 2019): number of epochs t with
    correct[t−1] and not correct[t]. Samples never classified correctly are
    "unforgettable" in no sense: the paper counts them as forgotten the most
    (``never_learned='max'`` → epochs + 1); DeepCore gives 0 (``'zero'``)."""
    c = np.asarray(correct, dtype=bool)
    events = (c[:-1] & ~c[1:]).sum(0).astype(np.float64)
    never = ~c.any(0)
    if never_learned == "max":
        events[never] = c.shape[0] + 1
    elif never_learned != "zero":
        raise ValueError(f"never_learned must be 'max' or 'zero', got {never_learned!r}")
    return events


def dynamic_uncertainty(prob: np.ndarray, window: int, drop_last: bool = True) -> np.ndarray:
    """DynUnc (He et al. 2023, arXiv 2306.05175, Eq. 1–2): for every window of
    ``window`` consecutive epochs, the standard deviation (population, ddof=0)
    of the training-label probability over the window; averaged over windows.
    The authors' release leaves the last epoch out (``drop_last``)."""
    p = np.asarray(prob, dtype=np.float64)
    if drop_last:
        p = p[:-1]
    E = p.shape[0]
    if not 1 < window <= E:
        raise ValueError(f"DynUnc window J = {window} needs 2 ≤ J ≤ {E} recorded epochs")
    win = np.lib.stride_tricks.sliding_window_view(p, window, axis=0)  # (E-J+1, n, J)
    return win.std(axis=-1).mean(axis=0)


# --- registered scorers ----------------------------------------------------

@register_scorer("random", keep="high", paper="reference: uniform random subset", needs_surrogate=False,
                 protocol=Protocol("PatrickZH/DeepCore deepcore/methods/uniform.py; main.py (--balance, default True)",
                                   selection="classbal", view="—",
                                   notes="DeepCore draws uniformly within each class, quota round(f·n_c)"))
def random_scores(ctx, **_) -> np.ndarray:
    """Uniform random scores from the seed (reference baseline)."""
    return ctx.rng(salt=7).random(ctx.n)


def _check_epoch_checkpoint(params: dict, sur: dict) -> str | None:
    if params.get("view", "checkpoint") == "checkpoint" and int(params["epoch"]) not in sur["save_epochs"]:
        return (f"epoch = {params['epoch']} is read at its epoch-end checkpoint, but surrogate.save_epochs = "
                f"{sur['save_epochs']} does not save it (add {params['epoch']})")
    return None


@register_scorer("el2n", keep="high", paper="Paul et al., NeurIPS 2021, arXiv 2107.07075", epoch=3, view="train",
                 check=all_of(epoch_in_range, _check_epoch_checkpoint),
                 protocol=Protocol("mansheej/data_diet data_diet/scores.py, data.py (keep_max_scores)", selection="keep",
                                   view="eval mode, un-augmented, at a checkpoint", params={"view": "checkpoint"},
                                   uniform={"view": "train"},
                                   notes="the release averages over 10 runs; here `average_surrogates` (config) "
                                         "sets the number of surrogate runs"))
def el2n(ctx, epoch: int = 3, view: str = "train") -> np.ndarray:
    """EL2N: error L2-norm early in training, averaged over the surrogate runs given.

    ``view='checkpoint'`` (the release): ‖softmax − onehot‖ of the model saved at the end of
    ``epoch``, in eval mode on un-augmented inputs; ``'train'``: read in the training forward
    passes of that epoch; ``'eval'``: in the recorder's eval pass before each update."""
    if view == "checkpoint":
        return np.mean([error_l2(softmax(ctx.logits(r, r.epoch_checkpoint(epoch))), ctx.y) for r in ctx.surrogates],
                       axis=0)
    return np.mean([el2n_from_dynamics(ctx.dynamics("el2n", view, r), epoch) for r in ctx.surrogates], axis=0)


@register_scorer("forgetting", keep="high", paper="Toneva et al., ICLR 2019, arXiv 1812.05159",
                 never_learned="max",
                 protocol=Protocol("mtoneva/example_forgetting order_examples_by_forgetting.py", selection="keep",
                                   view="training pass (predictions of each minibatch)"))
def forgetting(ctx, never_learned: str = "max") -> np.ndarray:
    """Forgetting events counted over the surrogate's epochs (training-pass predictions)."""
    d = ctx.surrogate.dynamics
    return forgetting_counts(d["pred"] == ctx.y[None, :], never_learned)


def _check_window(params: dict, sur: dict) -> str | None:
    usable = sur["epochs"] - (1 if params.get("drop_last", True) else 0)
    if params.get("J", 10) > usable:
        return (f"DynUnc window J = {params.get('J')} exceeds the {usable} usable epochs of the surrogate "
                f"(surrogate.recipe.epochs = {sur['epochs']})")
    return check_eval_pass(params, sur)


def check_eval_pass(params: dict, sur: dict) -> str | None:
    if params.get("view") == "eval" and not sur["eval_pass"]:
        return "view = eval reads the recorder's eval pass, but surrogate.eval_pass is false"
    return None


@register_scorer("dynunc", keep="high", paper="He et al., CVPR 2024, arXiv 2306.05175", J=10, drop_last=True,
                 view="train", check=_check_window,
                 protocol=Protocol("BAAI-DCAI/Dataset-Pruning ImageNet/get_coreset.py, main_and_produce.py, "
                                   "data/build_produce.py", selection="keep",
                                   view="eval mode, un-augmented, every step (before the update)", params={"view": "eval"},
                                   uniform={"view": "train"}))
def dynunc(ctx, J: int = 10, drop_last: bool = True, view: str = "train") -> np.ndarray:
    """Dynamic uncertainty: windowed std of the training-label probability (``view``: read in the
    training pass, or in the eval-mode pass on un-augmented images before each update)."""
    return dynamic_uncertainty(ctx.dynamics("prob", view), J, drop_last)

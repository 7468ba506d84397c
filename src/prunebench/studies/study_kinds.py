"""The studies' analyses as ``prunebench analyze`` kinds (see runner.py)."""

from __future__ import annotations

from ..methods.moso import agreement as _agreement  # noqa: F401  (registers MoSo's agreement study)
from ..methods.optprune import check as _optprune_check  # noqa: F401  (registers optprune's check)
from ..methods.optprune import epsilon as _epsilon  # noqa: F401  (registers optprune's ε study)
from ..paths import parse
from ..plots import studies as P
from . import analyses as A
from . import budget as _budget  # noqa: F401  (registers the budget study's kind)
from . import convergence as _convergence  # noqa: F401  (registers the convergence check's kind)
from . import protocol as _protocol  # noqa: F401  (registers the protocol study's kind)
from .base import kind


@kind("noise_grid")
def noise_grid(inputs, out):
    """Accuracy vs ratio, one panel per label-noise setting."""
    P.plot_noise_grid(A.read_retrain(inputs[0]), out["pdf"], out["png"])


@kind("noisy_removed")
def noisy_removed(inputs, out):
    """Fraction of the flipped samples each method removes, against random removal."""
    parts = A.split_inputs(inputs)
    df = A.noisy_removed(parts["subset"], parts["labels"])
    A.write_table(df, out["table"])
    P.plot_noisy_removed(df, out["pdf"], out["png"])


@kind("crossarch")
def crossarch(inputs, out):
    """Accuracy gain over random per (scoring arch A, retraining arch B, ratio)."""
    df = A.crossarch_gain(A.read_retrain(inputs[0]))
    A.write_table(df, out["table"])
    P.plot_crossarch_heatmap(A.transfer_settings(df), out["pdf"], out["png"])


@kind("ablation")
def ablation(inputs, out, variants: dict | None = None, surrogate_variants: dict | None = None):
    """Hyper-parameter ablations (DynUnc J, MoSo T, ...): agreement with the default and accuracy.

    ``surrogate_variants``: ``{scorer: reference}`` for scorers that differ from their reference only
    in the surrogate they read (optimizer, partitions): family ``{reference}-surrogate``."""
    parts = A.split_inputs(inputs)
    retrain = A.read_retrain(parts["table"][0]) if parts["table"] else None
    sv = dict(surrogate_variants or {})
    names = sorted({parse(p, "scores")["scorer"] for p in parts["scores"]} - set(sv))
    fams = dict(variants or A.infer_variants(names))
    for name, ref in sorted(sv.items()):
        fams.setdefault(f"{ref}-surrogate", {})[name] = ref
    df = A.ablation_table(parts["scores"], retrain, fams)
    A.write_table(df, out["table"])
    P.plot_ablation(df, out["pdf"], out["png"])


@kind("stability")
def stability(inputs, out):
    """Rank correlation of each method's scores between surrogate seeds."""
    df = A.score_stability(A.split_inputs(inputs)["scores"])
    A.write_table(df, out["table"])
    P.plot_stability(df, out["pdf"], out["png"])


@kind("lossless")
def lossless(inputs, out, k_std: float = 1.0):
    """Largest ratio whose mean accuracy is within one std of full data, per method."""
    df = A.lossless_ratio(A.read_retrain(inputs[0]), k_std=k_std)
    A.write_table(df, out["table"])
    P.plot_lossless(df, out["pdf"], out["png"])


@kind("composition")
def composition(inputs, out):
    """Per-class composition of every subset (seed 0) and the most-kept / most-removed samples."""
    parts = A.split_inputs(inputs)
    df = A.class_composition(parts["subset"], parts["labels"][0])
    A.write_table(df, out["table"])
    P.plot_class_composition(df, out["pdf"], out["png"])
    data = [p for p in parts["npz"] if p.endswith("train.npz")][0]
    P.plot_sample_grid(parts["scores"], data, parts["labels"][0], out["grid_pdf"], out["grid_png"])


@kind("imbalance")
def imbalance(inputs, out):
    """Per-class view of pruning a long-tailed training set: tail / balanced accuracy, tail share kept."""
    df = A.imbalance_table(A.split_inputs(inputs)["retrain"])
    A.write_table(df, out["table"])
    P.plot_imbalance(df, out["pdf"], out["png"])

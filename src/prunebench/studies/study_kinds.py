"""The studies' analyses as ``prunebench analyze`` kinds (see runner.py)."""

from __future__ import annotations

from ..paths import parse
from ..plots import studies as P
from . import analyses as A
from .runner import kind


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
    P.plot_crossarch_heatmap(df, out["pdf"], out["png"])


@kind("ablation")
def ablation(inputs, out, variants: dict | None = None):
    """Hyper-parameter ablations (DynUnc J, MoSo T, ...): agreement with the default and accuracy."""
    parts = A.split_inputs(inputs)
    retrain = A.read_retrain(parts["table"][0]) if parts["table"] else None
    names = sorted({parse(p, "scores")["scorer"] for p in parts["scores"]})
    df = A.ablation_table(parts["scores"], retrain, variants or A.infer_variants(names))
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

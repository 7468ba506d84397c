"""Retraining on a subset → the retrain-result contract (one JSON per seed)."""

from __future__ import annotations

import os

import numpy as np

from . import io

RETRAIN_SEED_OFFSET = 10_000  # retraining seed s uses torch seed 10000+s (surrogate seed s uses s)


def load_subset(path, n: int) -> np.ndarray:
    idx = np.load(path, allow_pickle=False)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise ValueError(f"{path}: a subset must be a 1-d integer array, got {idx.dtype} {idx.shape}")
    if len(idx) == 0:
        raise ValueError(f"{path}: empty subset")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"{path}: subset index out of range 0..{n - 1} (min {idx.min()}, max {idx.max()})")
    if np.any(np.diff(idx) <= 0):
        raise ValueError(f"{path}: subset indices must be sorted and distinct")
    return idx.astype(np.int64)


def retrain_many(data_dir, labels_path, subsets, outs, target: str, recipe: dict, seeds, keys: dict,
                 device: str = "auto", threads: int = 1, model_kw: dict | None = None, budget: str = "epochs",
                 progress: bool = True, ratios=None) -> list[dict]:
    """Train ``target`` once per seed on its subset; write one result JSON each.

    ``budget='epochs'``: the recipe's epochs on the subset (the seed papers'
    convention); ``'steps'``: as many updates as full-data training
    (budget-matched). Accuracy is the final epoch's on the test set — no model
    selection on the test set.
    """
    from .data import load_dataset
    from .models import build_model
    from .train import Recipe, evaluate, fit, resolve_device, set_determinism
    from .train.loop import Normalizer

    ratios = list(ratios) if ratios is not None else [None] * len(seeds)
    if not (len(subsets) == len(outs) == len(seeds) == len(ratios)):
        raise ValueError("--subset, --out, --seeds (and --ratios) need one entry per run")
    ds = load_dataset(data_dir)
    y = io.load_npz(labels_path)["y"]
    norm = Normalizer(ds.meta["mean"], ds.meta["std"])
    dev = resolve_device(device)
    idxs = [load_subset(sub, len(y)) for sub in subsets]  # every subset checked before any training
    results = []
    for idx, out, seed, ratio in zip(idxs, outs, seeds, ratios):
        rec = Recipe.from_dict(recipe)
        if budget == "steps":
            rec.max_steps = rec.epochs * rec.steps_per_epoch(len(y))
        set_determinism(RETRAIN_SEED_OFFSET + seed, threads)
        model = build_model(target, ds.in_shape, ds.num_classes, **(model_kw or {}))
        res = fit(model, ds.x_train[idx], y[idx], rec, RETRAIN_SEED_OFFSET + seed, dev, norm=norm,
                  desc=f"retrain {target} seed{seed} n={len(idx)}", progress=progress)
        ev = evaluate(model, ds.x_test, ds.y_test, dev, norm)
        counts = np.bincount(y[idx], minlength=ds.num_classes)
        result = {
            **keys,
            **({"ratio": float(ratio)} if ratio is not None else {}),
            "seed": int(seed),
            "target": target,
            "test_accuracy": round(ev["accuracy"], 6),
            "test_loss": round(ev["loss"], 6),
            "train_accuracy_last_epoch": round(res.log[-1]["train_acc"], 6),
            "epochs": res.epochs,
            "steps": res.steps,
            "budget": budget,
            "n_kept": int(len(idx)),
            "n_train": int(len(y)),
            "class_counts": counts.tolist(),
            "class_accuracy": [None if v != v else round(v, 6) for v in ev["class_accuracy"]],
        }
        io.write_json(out, result)
        results.append(result)
        print(f"{os.path.basename(os.path.dirname(out))} seed{seed}: n={len(idx)} acc={ev['accuracy']:.4f}")
    return results

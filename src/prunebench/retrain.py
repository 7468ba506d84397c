"""Retraining on a subset → the retrain-result contract (one JSON per seed)."""

from __future__ import annotations

import os

import numpy as np

from . import io

RETRAIN_SEED_OFFSET = 10_000  # retraining seed s uses torch seed 10000+s (surrogate seed s uses s)


def load_subset(path, n: int) -> np.ndarray:
    idx = io.load_npy(path)  # checked against the sha256 in its .meta.json
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise ValueError(f"{path}: a subset must be a 1-d integer array, got {idx.dtype} {idx.shape}")
    if len(idx) == 0:
        raise ValueError(f"{path}: empty subset")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"{path}: subset index out of range 0..{n - 1} (min {idx.min()}, max {idx.max()})")
    if np.any(np.diff(idx) <= 0):
        raise ValueError(f"{path}: subset indices must be sorted and distinct")
    return idx.astype(np.int64)


def parse_budget(budget: str) -> tuple[str, float]:
    """``'epochs'`` → ('epochs', 1): the recipe's epochs on the subset; ``'steps'`` → ('steps', 1): as many
    updates as full-data training; ``'x2'`` (``'x0.5'``, …) → ('epochs', 2): a multiple of the recipe's epochs."""
    b = str(budget)
    if b in ("epochs", "steps"):
        return b, 1.0
    if b.startswith("x"):
        try:
            k = float(b[1:])
        except ValueError:
            k = -1.0
        if k > 0:
            return "epochs", k
    raise ValueError(f"budget must be 'epochs', 'steps' or an epoch multiple 'x<k>' (x2, x0.5), got {budget!r}")


def budget_recipe(recipe, budget: str, n_full: int):
    """The recipe after the budget: its epochs × k, or ``max_steps`` = full-data steps."""
    kind, k = parse_budget(budget)
    if kind == "steps":
        recipe.max_steps = recipe.epochs * recipe.steps_per_epoch(n_full)
    elif k != 1.0:
        recipe.epochs = max(1, int(round(recipe.epochs * k)))
    return recipe


def curve_every(n_epochs: int, recipe_epochs: int) -> int:
    """Test every k-th epoch so the curve has about as many points as the recipe has epochs (every
    epoch under the ``epochs`` budget; a subset trained budget-matched runs more, shorter epochs)."""
    return max(1, -(-int(n_epochs) // max(1, int(recipe_epochs))))


def retrain_many(data_dir, labels_path, subsets, outs, target: str, recipe: dict, seeds, keys: dict | list,
                 device: str = "auto", threads: int = 1, model_kw: dict | None = None, budget: str = "epochs",
                 progress: bool = True, ratios=None) -> list[dict]:
    """Train ``target`` once per seed on its subset; write one result JSON each.

    ``budget='epochs'``: the recipe's epochs on the subset (the seed papers'
    convention); ``'steps'``: as many updates as full-data training
    (budget-matched); ``'x<k>'``: k times the recipe's epochs (:func:`parse_budget`). Accuracy is the final epoch's on the test set — no model
    selection on the test set. The test accuracy along training is recorded too
    (``test_accuracy_curve`` at ``curve_epochs``: every epoch, or every k-th when a
    budget-matched subset runs k times the recipe's epochs, and the last; its maximum
    ``test_accuracy_best`` is what DeepCore, Moderate-DS and CCS print, for like-for-like
    comparisons with their tables).
    """
    from .data import load_dataset
    from .models import build_model
    from .train import Recipe, evaluate, fit, resolve_device, set_determinism
    from .train.loop import Normalizer

    ratios = list(ratios) if ratios is not None else [None] * len(seeds)
    run_keys = list(keys) if isinstance(keys, (list, tuple)) else [keys] * len(seeds)
    if not (len(subsets) == len(outs) == len(seeds) == len(ratios) == len(run_keys)):
        raise ValueError("--subset, --out, --seeds (and --ratios, and --keys when a list) need one entry per run")
    ds = load_dataset(data_dir)
    y = io.load_npz(labels_path)["y"]
    norm = Normalizer(ds.meta["mean"], ds.meta["std"])
    dev = resolve_device(device)
    idxs = [load_subset(sub, len(y)) for sub in subsets]  # every subset checked before any training
    results = []
    for idx, out, seed, ratio, keys in zip(idxs, outs, seeds, ratios, run_keys):
        rec = budget_recipe(Recipe.from_dict(recipe), budget, len(y))
        set_determinism(RETRAIN_SEED_OFFSET + seed, threads)
        model = build_model(target, ds.in_shape, ds.num_classes, **(model_kw or {}))
        curve: list[float] = []
        curve_epochs: list[int] = []
        n_epochs = -(-rec.total_steps(len(idx)) // rec.steps_per_epoch(len(idx)))
        every = curve_every(n_epochs, Recipe.from_dict(recipe).epochs)

        def test_epoch(epoch, model=model, curve=curve, curve_epochs=curve_epochs, every=every, last=n_epochs):
            if (epoch + 1) % every and epoch + 1 != last:
                return
            curve.append(evaluate(model, ds.x_test, ds.y_test, dev, norm)["accuracy"])
            curve_epochs.append(epoch + 1)
            model.train()

        res = fit(model, ds.x_train[idx], y[idx], rec, RETRAIN_SEED_OFFSET + seed, dev, norm=norm,
                  desc=f"retrain {target} seed{seed} n={len(idx)}", progress=progress, on_epoch_end=test_epoch)
        ev = evaluate(model, ds.x_test, ds.y_test, dev, norm)
        best = int(np.argmax(curve))
        counts = np.bincount(y[idx], minlength=ds.num_classes)
        result = {
            **keys,
            **({"ratio": float(ratio)} if ratio is not None else {}),
            "seed": int(seed),
            "target": target,
            "test_accuracy": round(ev["accuracy"], 6),
            "test_loss": round(ev["loss"], 6),
            # best epoch: only to compare with papers that report it (DeepCore, Moderate, CCS); never the verdict
            "test_accuracy_best": round(curve[best], 6),
            "best_epoch": curve_epochs[best],
            "test_accuracy_curve": [round(a, 6) for a in curve],
            "curve_epochs": curve_epochs,
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

"""Surrogate runs: train once, record dynamics and checkpoints; load them back.

Layout of ``.../surrogate/{arch}/seed{s}/``::

    dynamics.npz          (epochs, n) arrays: prob, pred, loss, margin, el2n
    checkpoints/step{k}.pt {"step", "epoch", "lr", "state_dict"} at T sampled steps
                          (+ the ends of the epochs listed in ``save_epochs``)
    model.pt              final state_dict
    surrogate.json        arch, recipe, seed, n, steps, checkpoint list
    train_log.csv         per-epoch loss/accuracy
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np

from .. import io

SAMPLINGS = ("even", "random", "epoch_random")


def checkpoint_steps(total: int, T: int, mode: str = "even", seed: int = 0, steps_per_epoch: int | None = None
                     ) -> list[int]:
    """The T steps (0-based update indices) whose parameters are saved.

    ``even``: the ends of T equal stretches of training (the last update, and never
    the random initialisation at step 0); ``random``: T distinct steps in 1..total−1
    drawn with ``seed``; ``epoch_random``: T distinct epoch ends (the parameters after
    epoch e, e = 1..E−1) drawn with ``seed`` — the MoSo release saves a checkpoint
    per epoch and draws its checkpoints among them at random (unseeded there).
    Raises if T exceeds the number of steps (or of epoch ends).
    """
    if T < 1:
        raise ValueError(f"T must be ≥ 1, got {T}")
    if mode == "epoch_random":
        if not steps_per_epoch:
            raise ValueError("epoch_random sampling needs steps_per_epoch")
        ends = list(range(steps_per_epoch, total, steps_per_epoch))
        if T > len(ends):
            raise ValueError(f"T = {T} epoch-end checkpoints asked for, but training has only {len(ends)} "
                             "epoch ends before the last (raise the epochs or lower T)")
        pick = np.random.default_rng([seed, 5]).choice(len(ends), size=T, replace=False)
        return sorted(ends[int(i)] for i in pick)
    if T > total - 1:
        raise ValueError(f"T = {T} checkpoints asked for, but training has only {total} steps")
    if mode == "even":
        return sorted({int(round(v)) for v in np.linspace(0, total - 1, T + 1)[1:]})
    if mode == "random":
        return sorted(int(v) + 1 for v in np.random.default_rng(seed).choice(total - 1, size=T, replace=False))
    raise ValueError(f"unknown checkpoint sampling {mode!r}: use one of {', '.join(SAMPLINGS)}")


def partition_indices(n: int, partitions: int, mode: str = "contiguous", seed: int = 0) -> list[np.ndarray]:
    """Disjoint partitions of ``range(n)`` (MoSo, Tan et al. 2023, Algorithm 1; the release trains
    one surrogate per partition and scores each sample with its own partition's surrogate).

    ``contiguous`` (the release): blocks of ``n // partitions``, the last one takes
    the remainder. ``random``: a ``default_rng(seed)`` permutation cut the same
    way (use it when the data are stored sorted by class). Each part is sorted."""
    if not 1 <= partitions <= n:
        raise ValueError(f"partitions must lie in 1..{n}, got {partitions}")
    order = np.arange(n) if mode == "contiguous" else None
    if mode == "random":
        order = np.random.default_rng(seed).permutation(n)
    if order is None:
        raise ValueError(f"partition mode must be 'contiguous' or 'random', got {mode!r}")
    size = n // partitions
    cuts = [k * size for k in range(partitions)] + [n]
    return [np.sort(order[cuts[k] : cuts[k + 1]]) for k in range(partitions)]


def train_partitioned(data_dir, labels_path, out_dir, arch: str, recipe: dict, seed: int, partitions: int,
                      mode: str = "contiguous", partition_seed: int = 0, **kw) -> list[dict]:
    """``partitions`` surrogates, run k trained on partition k only (:func:`partition_indices`),
    into ``out_dir/part{k}``; each records the dynamics of its own samples. Surrogate k of seed s
    uses torch seed ``s·1000 + k`` (distinct initialisations, as the release's separate runs)."""
    n = len(io.load_npz(labels_path)["y"])
    parts = partition_indices(n, partitions, mode, partition_seed)
    metas = []
    for k, idx in enumerate(parts):
        part = {"index": k, "count": partitions, "mode": mode, "seed": partition_seed}
        metas.append(train_surrogate(data_dir, labels_path, Path(out_dir) / f"part{k}", arch, recipe,
                                     seed * 1000 + k, indices=idx, partition=part, **kw))
    return metas


def train_surrogate(
    data_dir: str | os.PathLike,
    labels_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    arch: str,
    recipe: dict,
    seed: int,
    device: str = "auto",
    T: int = 10,
    sampling: str = "even",
    save_epochs: list[int] | tuple[int, ...] = (),
    threads: int = 1,
    model_kw: dict | None = None,
    progress: bool = True,
    indices: np.ndarray | None = None,
    partition: dict | None = None,
    eval_pass: bool = True,
) -> dict:
    """Train one surrogate on the training set (or on ``indices`` of it: a partition, whose
    sorted indices are saved as ``indices.npy`` and described by ``partition`` in the meta),
    recording per-sample dynamics and the sampled checkpoints. ``eval_pass``: also record the
    dynamics of an eval-mode pass on the un-augmented batch before each update (``eval_*``
    arrays; see :func:`prunebench.train.loop.fit`)."""
    import torch

    from ..data import load_dataset
    from ..models import build_model
    from . import Recipe, fit, resolve_device, set_determinism
    from .loop import Normalizer

    out = Path(out_dir)
    files: dict[str, str] = {}  # sha256 of every file of the run, recorded in surrogate.json
    ds = load_dataset(data_dir)
    y = io.load_npz(labels_path)["y"]
    if len(y) != len(ds.y_train):
        raise ValueError(f"{labels_path}: {len(y)} labels for {len(ds.y_train)} training samples")
    x_train = ds.x_train
    if indices is not None:
        indices = np.asarray(indices, np.int64)
        x_train, y = x_train[indices], y[indices]
        files["indices.npy"] = io.save_npy(out / "indices.npy", indices)
    rec = Recipe.from_dict(recipe)
    set_determinism(seed, threads)
    dev = resolve_device(device)
    model = build_model(arch, ds.in_shape, ds.num_classes, **(model_kw or {}))
    n = len(y)
    total = rec.total_steps(n)
    spe = rec.steps_per_epoch(n)
    sampled = checkpoint_steps(total, T, sampling, seed, spe)
    extra = [e * spe for e in save_epochs if 0 < e * spe < total]
    for e in save_epochs:
        if not 0 < e < rec.epochs:
            raise ValueError(f"save_epochs entry {e} must lie in 1..{rec.epochs - 1}")
    ckpts: list[dict] = []

    def save(step, epoch, lr, state):
        rel = f"checkpoints/step{step}.pt"
        files[rel] = io.torch_save(out / rel, {"step": step, "epoch": epoch, "lr": lr, "state_dict": state})
        ckpts.append({"step": step, "epoch": epoch, "lr": lr, "path": rel,
                      "sampled": step in sampled, "epoch_end": step in extra})

    norm = Normalizer(ds.meta["mean"], ds.meta["std"])
    res = fit(model, x_train, y, rec, seed, dev, norm=norm, record=True,
              checkpoint_steps=sorted(set(sampled) | set(extra)), on_checkpoint=save,
              desc=f"surrogate {arch} seed{seed}", progress=progress, record_eval=eval_pass)
    files["dynamics.npz"] = io.save_npz(out / "dynamics.npz", **res.dynamics)
    files["model.pt"] = io.torch_save(out / "model.pt", {k: v.cpu() for k, v in model.state_dict().items()})
    files["train_log.csv"] = io.write_csv(out / "train_log.csv", list(res.log[0].keys()),
                                          [list(r.values()) for r in res.log])
    meta = {
        "arch": arch,
        "model_kw": model_kw or {},
        "recipe": rec.to_dict(),
        "seed": seed,
        "n": n,
        "steps": res.steps,
        "steps_per_epoch": spe,
        "epochs": res.epochs,
        "T": T,
        "sampling": sampling,
        "eval_pass": bool(eval_pass),
        "checkpoints": sorted(ckpts, key=lambda c: c["step"]),
        "in_shape": list(ds.in_shape),
        "num_classes": ds.num_classes,
        "norm": {"mean": ds.meta["mean"], "std": ds.meta["std"]},
        "final_train_acc": res.log[-1]["train_acc"],
        **({"partition": partition} if partition is not None else {}),
        "files": dict(sorted(files.items())),
    }
    io.write_json(out / "surrogate.json", meta)
    del torch
    return meta


class SurrogateRun:
    """Read-only view of a finished surrogate run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not (self.path / "surrogate.json").exists():
            raise FileNotFoundError(f"{self.path}: not a surrogate run (no surrogate.json)")
        self.meta = io.read_json(self.path / "surrogate.json")

    @cached_property
    def dynamics(self) -> dict[str, np.ndarray]:
        return io.load_npz(self.path / "dynamics.npz")

    @property
    def norm(self):
        from .loop import Normalizer

        return Normalizer(self.meta["norm"]["mean"], self.meta["norm"]["std"])

    def sampled_checkpoints(self, T: int | None = None) -> list[dict]:
        """The sampled checkpoints, or ``T`` of them spread evenly over the saved ones."""
        saved = [c for c in self.meta["checkpoints"] if c["sampled"]]
        if T is None or T == len(saved):
            return saved
        if T > len(saved):
            raise ValueError(
                f"{self.path}: T = {T} checkpoints asked for, the surrogate saved {len(saved)} "
                "(raise surrogate.T in the config)"
            )
        pick = sorted({int(round(v)) for v in np.linspace(0, len(saved) - 1, T)})
        return [saved[i] for i in pick]

    def epoch_checkpoint(self, epoch: int) -> dict:
        step = epoch * self.meta["steps_per_epoch"]
        for c in self.meta["checkpoints"]:
            if c["step"] == step:
                return c
        raise FileNotFoundError(f"{self.path}: no checkpoint at the end of epoch {epoch} (add it to save_epochs)")

    def build_model(self):
        from ..models import build_model

        return build_model(self.meta["arch"], tuple(self.meta["in_shape"]), self.meta["num_classes"],
                           **self.meta.get("model_kw", {}))

    def load_model(self, checkpoint: dict | None = None, device="cpu"):
        """The final model, or the parameters of ``checkpoint`` (an entry of meta)."""
        model = self.build_model()
        p = self.path / (checkpoint["path"] if checkpoint else "model.pt")
        obj = io.load_torch(p)  # checked against its sha256 in surrogate.json, and its zip CRCs
        model.load_state_dict(obj["state_dict"] if checkpoint else obj)
        return model.to(device)

"""The training loop shared by surrogate training and retraining."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..numeric import lr_at


@dataclass
class Recipe:
    """A training recipe. ``max_steps`` (if set) overrides ``epochs``: the
    loop runs whole shuffled passes until that many updates are done
    (budget-matched retraining)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine | step | constant
    optimizer: str = "sgd"  # sgd | adam
    augment: str = "none"  # none | crop_flip
    max_steps: int | None = None
    amp: bool = False
    channels_last: bool = False
    clip_grad_norm: float | None = None  # max ‖∇θ‖₂ per update (the MoSo release's retraining clips at 1)

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    def steps_per_epoch(self, n: int) -> int:
        return math.ceil(n / self.batch_size)

    def total_steps(self, n: int) -> int:
        return self.max_steps if self.max_steps else self.epochs * self.steps_per_epoch(n)

    def lr_at(self, step: int, total: int) -> float:
        return lr_at(step, total, self.lr, self.schedule)


@dataclass
class Normalizer:
    mean: Sequence[float]
    std: Sequence[float]


def batch_to_tensor(xb: np.ndarray | torch.Tensor, norm: Normalizer | None, device) -> torch.Tensor:
    """uint8 → float/255, then per-channel normalisation, on ``device``."""
    t = torch.as_tensor(xb).to(device, non_blocking=True)
    t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    if norm is not None:
        m = torch.tensor(norm.mean, device=device).view(1, -1, 1, 1)
        s = torch.tensor(norm.std, device=device).view(1, -1, 1, 1).clamp_min(1e-6)
        t = (t - m) / s
    return t


def augment_batch(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """Whole-batch augmentation: random crop (pad 4, or H//8) + horizontal flip."""
    if kind == "none":
        return x
    if kind != "crop_flip":
        raise ValueError(f"unknown augmentation {kind!r}")
    n, _, h, w = x.shape
    p = max(1, h // 8)
    xp = F.pad(x, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=gen).to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, None, :, None]
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, None, :]
    bidx = torch.arange(n, device=x.device)[:, None, None, None]
    cidx = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = xp[bidx, cidx, rows, cols]
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(3), out)


@dataclass
class FitResult:
    steps: int
    epochs: int
    log: list[dict] = field(default_factory=list)
    dynamics: dict[str, np.ndarray] | None = None


DYNAMICS_KEYS = ("prob", "pred", "loss", "margin", "pmargin", "el2n")
#: the keys of the eval pass (``record_eval``): the same quantities, read in eval mode on the un-augmented batch
EVAL_KEYS = tuple(f"eval_{k}" for k in DYNAMICS_KEYS)


class _SGD(torch.optim.SGD):
    """``torch.optim.SGD`` whose ``step`` runs torch's own step body without its
    ``_use_grad_for_differentiable`` wrapper, which imports ``torch._dynamo`` on the first step
    (1.1–1.5 s per process, a third of a digits retraining job's CPU time) only to insert a
    ``torch.compile`` graph break; this package never compiles. The update is torch's, bit for bit
    (``tests/test_train_scorers_select.py`` compares the parameters with ``torch.optim.SGD``)."""

    def step(self, closure=None):
        with torch.no_grad():  # the wrapper's grad mode (differentiable=False)
            return _SGD_STEP(self, closure)


#: torch's SGD step body (None if this torch wraps it differently: then torch.optim.SGD is used)
_SGD_STEP = getattr(torch.optim.SGD.step, "__wrapped__", None)


def _make_optimizer(model, recipe: Recipe):
    if recipe.optimizer == "sgd":
        return (_SGD if _SGD_STEP is not None else torch.optim.SGD)(
            model.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov and recipe.momentum > 0,
            weight_decay=recipe.weight_decay,
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def fit(
    model: torch.nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    recipe: Recipe,
    seed: int,
    device: torch.device,
    norm: Normalizer | None = None,
    record: bool = False,
    checkpoint_steps: Sequence[int] = (),
    on_checkpoint: Callable[[int, int, float, dict], None] | None = None,
    desc: str = "train",
    progress: bool = True,
    record_eval: bool = False,
    on_epoch_end: Callable[[int], None] | None = None,
) -> FitResult:
    """Train ``model`` in place on ``(x, y)``.

    * Shuffling and augmentation use their own seeded ``torch.Generator``.
    * ``record``: for every epoch and every sample, read from the training
      forward pass itself (no extra pass): probability of the given label,
      predicted class, loss, logit margin (label logit − largest other) and
      EL2N (‖softmax − onehot‖₂). Arrays are ``(epochs, n)``.
    * ``record_eval`` (with ``record``): also read the same quantities in a
      second forward pass before each update, in eval mode on the batch's
      un-augmented images (``eval_*`` arrays): the view the DynUnc release reads
      (BAAI-DCAI/Dataset-Pruning). It does not change training: no gradient,
      no random draw, no BatchNorm statistics update.
    * ``on_epoch_end(epoch)``: called after each epoch (e.g. a test evaluation).
    * ``checkpoint_steps``: before update ``k`` (0-based), call
      ``on_checkpoint(k, epoch, lr_k, state_dict)`` with the parameters
      θ_k and the learning rate η_k that update ``k`` uses.
    """
    n = len(y)
    model.to(device)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = _make_optimizer(model, recipe)
    gen = torch.Generator().manual_seed(int(seed))
    total = recipe.total_steps(n)
    spe = recipe.steps_per_epoch(n)
    epochs = math.ceil(total / spe)
    y_t = torch.as_tensor(y, dtype=torch.long)
    x_t = torch.as_tensor(x)
    ckpts = set(int(s) for s in checkpoint_steps)
    if ckpts and (min(ckpts) < 0 or max(ckpts) >= total):
        raise ValueError(f"checkpoint steps must lie in [0, {total}), got {sorted(ckpts)}")
    dyn = None
    if record:
        keys = DYNAMICS_KEYS + (EVAL_KEYS if record_eval else ())
        dyn = {k: np.zeros((epochs, n), np.int64 if k.endswith("pred") else np.float32) for k in keys}
    use_amp = recipe.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    step = 0
    log = []
    bar = tqdm(total=total, desc=desc, disable=not progress, mininterval=2.0, leave=False)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for b in range(spe):
            if step >= total:
                break
            idx = perm[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            if len(idx) == 0:
                break
            lr = recipe.lr_at(step, total)
            for g in opt.param_groups:
                g["lr"] = lr
            if step in ckpts and on_checkpoint is not None:
                on_checkpoint(step, epoch, lr, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
            x_clean = batch_to_tensor(x_t[idx], norm, device)
            if dyn is not None and record_eval:  # the eval pass reads θ_k, before update k (as the DynUnc release)
                with torch.no_grad():
                    _record_eval(dyn, epoch, idx.numpy(), model, x_clean, y_t[idx].to(device), recipe, use_amp)
            xb = augment_batch(x_clean, recipe.augment, gen)
            if recipe.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = y_t[idx].to(device)
            with torch.autocast(device.type, enabled=use_amp):
                logits = model(xb)
                losses = F.cross_entropy(logits.float(), yb, reduction="none")
                loss = losses.mean()
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if recipe.clip_grad_norm is not None:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(recipe.clip_grad_norm))
            scaler.step(opt)
            scaler.update()
            with torch.no_grad():
                lg = logits.detach().float()
                pred = lg.argmax(1)
                if dyn is not None:
                    _record(dyn, epoch, idx.numpy(), lg, yb, losses.detach(), pred)
                loss_sum += float(losses.sum())
                correct += int((pred == yb).sum())
                seen += len(idx)
            step += 1
            bar.update(1)
        log.append({"epoch": epoch, "steps": step, "lr_end": recipe.lr_at(min(step, total - 1), total),
                    "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1)})
        bar.set_postfix(loss=f"{log[-1]['train_loss']:.3f}", acc=f"{log[-1]['train_acc']:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    bar.close()
    return FitResult(steps=step, epochs=epochs, log=log, dynamics=dyn)


def _record(dyn, epoch, idx, logits, yb, losses, pred, prefix: str = "") -> None:
    p = torch.softmax(logits, 1)
    py = p.gather(1, yb[:, None])[:, 0]
    ly = logits.gather(1, yb[:, None])[:, 0]
    other = logits.scatter(1, yb[:, None], float("-inf")).amax(1)
    p_other = p.scatter(1, yb[:, None], float("-inf")).amax(1)
    onehot = F.one_hot(yb, logits.shape[1]).float()
    dyn[prefix + "prob"][epoch, idx] = py.cpu().numpy()
    dyn[prefix + "pred"][epoch, idx] = pred.cpu().numpy()
    dyn[prefix + "loss"][epoch, idx] = losses.cpu().numpy()
    dyn[prefix + "margin"][epoch, idx] = (ly - other).cpu().numpy()
    dyn[prefix + "pmargin"][epoch, idx] = (py - p_other).cpu().numpy()
    dyn[prefix + "el2n"][epoch, idx] = (p - onehot).norm(dim=1).cpu().numpy()


def _record_eval(dyn, epoch, idx, model, x_clean, yb, recipe: Recipe, use_amp: bool) -> None:
    """The eval pass of one batch (before its update): eval mode, un-augmented images."""
    model.eval()
    if recipe.channels_last:
        x_clean = x_clean.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x_clean.device.type, enabled=use_amp):
        lg = model(x_clean).float()
    losses = F.cross_entropy(lg, yb, reduction="none")
    _record(dyn, epoch, idx, lg, yb, losses, lg.argmax(1), prefix="eval_")
    model.train()


@torch.no_grad()
def predict(model, x: np.ndarray, device, norm: Normalizer | None = None, batch_size: int = 1024,
            fn: Callable | None = None) -> np.ndarray:
    """Logits (or ``fn(model, batch)``) for every row of ``x``, in eval mode, in chunks."""
    model.eval().to(device)
    out = []
    for s in range(0, len(x), batch_size):
        xb = batch_to_tensor(x[s : s + batch_size], norm, device)
        out.append((fn(model, xb) if fn else model(xb)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0,), np.float32)


def evaluate(model, x, y, device, norm: Normalizer | None = None, batch_size: int = 1024) -> dict:
    """Accuracy, mean cross-entropy and per-class accuracy (class c: the share of its test samples
    predicted c; NaN for a class absent from ``y``) on ``(x, y)``."""
    logits = torch.as_tensor(predict(model, x, device, norm, batch_size))
    yt = torch.as_tensor(y, dtype=torch.long)
    hit = (logits.argmax(1) == yt).double()
    C = logits.shape[1]
    n_c = torch.bincount(yt, minlength=C).double()
    per_class = torch.bincount(yt, weights=hit, minlength=C) / n_c
    return {
        "accuracy": float(hit.mean()),
        "loss": float(F.cross_entropy(logits, yt)),
        "class_accuracy": [float(v) for v in per_class],
    }

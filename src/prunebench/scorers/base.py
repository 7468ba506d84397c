"""Registry, the lazily loading scoring context, and scorer discovery."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..registry import Registry

#: selection rules a release can use, by the strategy that implements each
SELECTIONS = {
    "keep": "global top-k",
    "classeq": "per class, equal quotas",
    "classbal": "per class, quotas ∝ class size",
    "ccs": "global, CCS strata",
    "solver": "discrete program (writes subsets)",
}


@dataclass(frozen=True)
class Protocol:
    """How the method's authors run it, as read in their release (or paper, where no release exists).

    ``release``: the file(s) read, ``owner/repo path`` (or "paper only: …" / "no release: …");
    ``selection``: the strategy that reproduces the release's selection rule (a key of
    :data:`SELECTIONS`); ``view``: where the release reads the model, in words;
    ``params``: the release's values of this scorer's parameters, applied by default;
    ``uniform``: the values the uniform protocol uses instead (the training pass,
    the registered defaults); ``notes``: what the project's default still does otherwise,
    and parameters that live outside the scorer (strategy parameters, run averaging)."""

    release: str
    selection: str = "keep"
    view: str = "training pass"
    params: dict = field(default_factory=dict)
    uniform: dict = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        if self.selection not in SELECTIONS:
            raise ValueError(f"protocol selection {self.selection!r} not among {sorted(SELECTIONS)}")


@dataclass(frozen=True)
class Solver:
    """The interface of a method that writes its subsets itself (``kind="solver"``; ``prunebench solve``).

    Per seed, the CLI calls ``prepare`` once, writes ``scores(state)`` as the method's score file (the
    correlation and stability studies read it like any other), then ``solve`` for all the run's ratios:

    - ``prepare(ctx, **params) -> state``: the work every ratio shares (optprune: the influence vectors);
    - ``scores(state, **params) -> np.ndarray``: one score per training sample;
    - ``solve(ctx, ratios, state, **params) -> {ratio: (kept, meta)}``: ``kept`` sorted int64 indices,
      ``meta`` JSON-able, its ``"timing"`` key the only machine-dependent one (written to a sidecar);
    - ``score_name``: what the score file holds, recorded in its meta."""

    prepare: Callable[..., Any]
    scores: Callable[..., np.ndarray]
    solve: Callable[..., dict]
    score_name: str = "score"


@dataclass(frozen=True)
class ScorerInfo:
    name: str
    fn: Callable[..., np.ndarray]
    keep: str  # "high" | "low"
    paper: str
    strategy: str = "keep"  # default selection strategy
    defaults: dict = field(default_factory=dict)
    kind: str = "score"  # "score" | "solver" (writes subsets itself)
    needs_surrogate: bool = True
    protocol: Protocol | None = None
    check: Callable[[dict, dict], str | None] | None = None
    #: the study figures this method adds to a run (paths under results/{exp}/; ``{dataset}``, ``{noise}``,
    #: ``{arch}`` = the head-to-head setting, ``{name}`` = the configured scorer name)
    studies: tuple[str, ...] = ()
    solver: Solver | None = None

    @property
    def uniform_params(self) -> dict:
        """The parameters of the uniform protocol (the release's view and settings undone)."""
        return {**self.defaults, **(self.protocol.uniform if self.protocol else {})}

    def check_params(self, params: dict, surrogate: dict) -> str | None:
        """A config problem with ``params`` given the surrogate setting (``epochs``, ``T``,
        ``save_epochs``, ``eval_pass``), as a message; None when fine."""
        return self.check(params, surrogate) if self.check else None

    @property
    def summary(self) -> str:
        doc = (self.fn.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


SCORERS: Registry[ScorerInfo] = Registry("scorer")


# --- parameter checks a scorer composes into its ``check=`` ------------------------------------------------
# ``sur`` is the surrogate setting the plan passes: epochs, T (and T_key, the config key that sets it),
# save_epochs, eval_pass.

def epoch_in_range(params: dict, sur: dict) -> str | None:
    """``epoch`` names one of the surrogate's epochs (1..epochs)."""
    if not 1 <= int(params["epoch"]) <= sur["epochs"]:
        return f"epoch = {params['epoch']} outside 1..{sur['epochs']}"
    return None


def T_within_checkpoints(params: dict, sur: dict) -> str | None:
    """``T`` checkpoints read are at most the ``T`` the surrogate saves."""
    if int(params["T"]) > sur["T"]:
        return (f"T = {params['T']} but the surrogate saves only {sur.get('T_key', 'surrogate.T')} = {sur['T']} "
                "checkpoints")
    return None


def all_of(*checks: Callable[[dict, dict], str | None]) -> Callable[[dict, dict], str | None]:
    """One ``check=`` from several: the first message, or None."""
    def check(params: dict, sur: dict) -> str | None:
        return next((m for m in (c(params, sur) for c in checks) if m), None)

    return check


def register_scorer(name: str, *, keep: str, paper: str, kind: str = "score", needs_surrogate: bool = True,
                    protocol: Protocol | None = None, check: Callable[[dict, dict], str | None] | None = None,
                    studies: tuple[str, ...] = (), solver: Solver | None = None, **defaults: Any):
    """Decorator: register ``fn(ctx, **params) -> scores`` as scorer ``name``.

    ``defaults`` are the scorer's parameters (overridable from config);
    ``needs_surrogate=False`` for scorers that read only x and y (random).
    ``protocol``: the authors' protocol (:class:`Protocol`): its selection is the
    scorer's default strategy and its ``params`` override ``defaults``.
    ``check(params, surrogate)``: returns a message when the parameters do not fit the
    surrogate setting (run at dry-run time by :func:`prunebench.plan.check`).
    ``studies``: the registered studies (:mod:`prunebench.studies.registry`) the method adds to a run that
    configures it (:attr:`ScorerInfo.studies`).
    ``solver``: with ``kind="solver"`` (and only then), the :class:`Solver` that writes the subsets."""
    if keep not in ("high", "low"):
        raise ValueError(f"keep must be 'high' or 'low', got {keep!r}")
    protocol = protocol or Protocol("no release")
    unknown = (set(protocol.params) | set(protocol.uniform)) - set(defaults)
    if unknown:
        raise ValueError(f"scorer {name}: protocol names parameters {sorted(unknown)} it does not take")
    if (kind == "solver") != (solver is not None):
        raise ValueError(f"scorer {name}: kind='solver' needs solver=Solver(...), and only it takes one")
    strategy = "solver" if kind == "solver" else protocol.selection

    def wrap(fn):
        return ScorerInfo(name, fn, keep, paper, strategy, {**defaults, **protocol.params}, kind, needs_surrogate,
                          protocol, check, tuple(studies), solver)

    return SCORERS.decorator(name, wrap)


def _discover() -> None:
    """Import every module of this package, and the ``scorer`` module of every method package
    (``prunebench/methods/<method>/scorer.py``), so their decorators run."""
    pkg = Path(__file__).parent
    for m in pkgutil.iter_modules([str(pkg)]):
        if m.name not in ("base",) and not m.name.startswith("_"):
            importlib.import_module(f"{__package__}.{m.name}")
    methods = pkg.parent / "methods"
    for m in pkgutil.iter_modules([str(methods)]):
        if m.ispkg and (methods / m.name / "scorer.py").exists():
            importlib.import_module(f"{__package__.rpartition('.')[0]}.methods.{m.name}.scorer")


def get_scorer(name: str) -> ScorerInfo:
    _discover()
    return SCORERS.get(name)


def list_scorers() -> list[ScorerInfo]:
    _discover()
    return [SCORERS.get(n) for n in SCORERS.names()]


def scorer_table(config: str | None = None) -> str:
    """``prunebench list-scorers``: one line per registered scorer (name, keep, strategy, kind, paper),
    then the ``external_scorers`` of the YAML ``config`` when given."""
    rows = [(s.name, s.keep, s.strategy, s.kind, s.paper) for s in list_scorers()]
    if config:
        import yaml

        cfg = yaml.safe_load(open(config))
        for name, spec in (cfg.get("external_scorers") or {}).items():
            rows.append((name, spec.get("keep", "high"), spec.get("strategy", "keep"), "external",
                         spec.get("paper", "external program")))
    w = max(len(r[0]) for r in rows)
    lines = [f"{'name':<{w}}  keep  strategy  kind      paper"]
    lines += [f"{r[0]:<{w}}  {r[1]:<4}  {r[2]:<8}  {r[3]:<8}  {r[4]}" for r in rows]
    return "\n".join(lines) + "\n"


def protocol_markdown() -> str:
    """The README's method-protocol table (Markdown), generated from the registry."""
    def fmt(d: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(d.items())) or "—"

    lines = ["| method | release (file read) | selection | view | release parameters | uniform protocol "
             "| notes |", "|---|---|---|---|---|---|---|"]
    for s in list_scorers():
        p = s.protocol
        lines.append(f"| `{s.name}` | {p.release} | {SELECTIONS[p.selection]} (`{s.strategy}`) | {p.view} | "
                     f"{fmt(p.params)} | global top-k, {fmt(p.uniform) if p.uniform else 'same scores'} | "
                     f"{p.notes or '—'} |")
    return "\n".join(lines) + "\n"


class ScoreContext:
    """What a scorer may read: x and the *training* labels (possibly noisy),
    the surrogate run(s), a device and a seed. Never the clean labels or the
    flipped mask. Everything loads on first use."""

    def __init__(self, data_dir, labels_path, surrogate_dirs, seed: int = 0, device: str = "auto",
                 threads: int = 1, chunk_size: int = 1024, progress: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.labels_path = Path(labels_path)
        self.surrogate_dirs = [Path(p) for p in surrogate_dirs]
        self.seed = int(seed)
        self.device_name = device
        self.threads = threads
        self.chunk_size = chunk_size
        self.progress = progress

    @cached_property
    def dataset(self):
        from ..data import load_dataset

        return load_dataset(self.data_dir)

    @property
    def x(self) -> np.ndarray:
        return self.dataset.x_train

    @cached_property
    def y(self) -> np.ndarray:
        from .. import io

        y = io.load_npz(self.labels_path)["y"]
        if len(y) != len(self.x):
            raise ValueError(f"{self.labels_path}: {len(y)} labels for {len(self.x)} samples")
        return y

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @cached_property
    def surrogates(self):
        from ..train.surrogate import SurrogateRun

        if not self.surrogate_dirs:
            raise ValueError("this scorer needs a surrogate run, none was given")
        runs = [SurrogateRun(p) for p in self.surrogate_dirs]
        for r in runs:
            if r.meta.get("partition") is None and r.meta["n"] != self.n:
                raise ValueError(f"{r.path}: surrogate trained on {r.meta['n']} samples, data has {self.n}")
        return runs

    @property
    def surrogate(self):
        """The primary surrogate (the one of this seed), trained on the whole training set."""
        run = self.surrogates[0]
        if run.meta.get("partition") is not None:
            raise ValueError(f"{run.path}: a partition surrogate (trained on part of the data); only scorers "
                             "with a 'partitions' parameter (moso) can use partitioned surrogates")
        return run

    @cached_property
    def device(self):
        """The torch device; the first use also seeds torch and fixes its flags and threads
        (a scorer that never touches torch never imports it)."""
        from ..train.device import resolve_device, set_determinism

        set_determinism(self.seed, self.threads)
        return resolve_device(self.device_name)

    def features(self, run=None) -> np.ndarray:
        """Penultimate features of the final surrogate model, eval mode, chunked."""
        from ..models import embed
        from ..train import predict

        run = run or self.surrogate
        model = run.load_model(device=self.device)
        return predict(model, self.x, self.device, run.norm, self.chunk_size, fn=embed)

    def dynamics(self, key: str, view: str = "train", run=None) -> np.ndarray:
        """A recorded dynamics array, ``(epochs, n)``: read in the training pass (``view='train'``) or
        in the eval-mode pass on un-augmented images before each update (``'eval'``)."""
        run = run or self.surrogate
        if view not in ("train", "eval"):
            raise ValueError(f"view must be 'train' or 'eval', got {view!r}")
        name = key if view == "train" else f"eval_{key}"
        d = run.dynamics
        if name not in d:
            hint = ("the surrogate recorded no eval pass: set surrogate.eval_pass: true (the default) and re-run "
                    "the surrogate rule" if view == "eval" else "re-run the surrogate rule")
            raise ValueError(f"{run.path}/dynamics.npz has no {name!r} array; {hint}")
        return d[name]

    def logits(self, run=None, checkpoint: dict | None = None) -> np.ndarray:
        from ..train import predict

        run = run or self.surrogate
        model = run.load_model(checkpoint, device=self.device)
        return predict(model, self.x, self.device, run.norm, self.chunk_size)

    def rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])

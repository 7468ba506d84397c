"""The study registry: a study is one module that registers what it reads, what it writes, how the report
shows it, and the function that makes its tables and figures (``prunebench analyze NAME``).

The workflow turns every registered study into one rule (``workflow/rules/studies.smk``: inputs, outputs,
log, ``--options``, environment and whether it runs on the submitting machine all come from here), and
``rule all`` asks for the targets of the studies a config has (:attr:`Study.targets`). Adding a study is
adding a module under ``prunebench/studies/`` (or under a method's package in ``prunebench/methods/``, for
a study that belongs to one method) that calls
:func:`register_study`; nothing else.

A study's ``inputs``, ``options`` and ``targets`` are functions of the run's :class:`prunebench.plan.Files`
(the config, its scorer specs and every contract path) and, for ``inputs`` and ``options``, of the job's
wildcards: they never spell a path themselves.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import io, paths
from ..registry import Registry
from .base import KINDS


@dataclass(frozen=True)
class Output:
    """One output of a study: ``--out KEY=PATH``. ``folder``: ``table`` or ``figure`` (a file under the run's
    tables/ or figures/), or ``dir`` (a folder, ``paths.TEMPLATES[name]``). A ``caption`` (reStructuredText)
    puts the file in the HTML report under ``category``."""

    key: str
    name: str
    folder: str = "figure"
    caption: str | None = None
    category: str | None = None

    def path(self) -> str:
        """The Snakemake path pattern (``{exp}`` and any other key left as a wildcard)."""
        if self.folder == "dir":
            return paths.rule_path(self.name)
        return paths.rule_path(self.folder, name=self.name)


def table(key: str, name: str, **kw) -> Output:
    return Output(key, name, "table", **kw)


def figure(key: str, name: str, **kw) -> Output:
    return Output(key, name, "figure", **kw)


def _none(files, wildcards=None) -> None:
    return None


def _nothing(files) -> list[str]:
    return []


@dataclass(frozen=True)
class Study:
    """A registered study (see the module's docstring).

    * ``run(inputs, out, **options)`` makes the outputs (``out``: key → path);
    * ``inputs(files, wildcards)`` → ``{name: path or [paths]}``, passed in order as ``--in``;
    * ``options(files, wildcards)`` → the JSON ``--options`` (None: no ``--options``);
    * ``targets(files)`` → what ``rule all`` asks for (empty: the config does not have this study);
    * ``inputs_arg``: what ``--in`` gets (``{input}``: every input; ``none``: the study reads no file);
    * ``local``: runs where Snakemake runs (cheap pandas/matplotlib work), not as a cluster job;
    * ``env``: the conda environment (``workflow/envs/{env}.yaml``); ``benchmark``: time it (torch work).
    """

    name: str
    run: Callable[..., None]
    outputs: tuple[Output, ...]
    inputs: Callable[..., dict[str, Any]] = field(default=lambda files, wildcards=None: {})
    options: Callable[..., dict | None] = _none
    targets: Callable[..., list[str]] = _nothing
    inputs_arg: str = "{input}"
    local: bool = True
    env: str = "plots"
    benchmark: bool = False
    log_name: str | None = None
    rule_name: str | None = None

    @property
    def rule(self) -> str:
        """The rule's name (the study's, unless it says otherwise)."""
        return self.rule_name or self.name

    @property
    def log(self) -> str:
        """The job's name under logs/studies/ (and benchmarks/studies/)."""
        return self.log_name or self.name

    def options_arg(self, files, wildcards) -> str:
        """`` --options JSON`` (one shell word), or nothing for a study without options."""
        if self.options is _none:
            return ""
        return " --options " + shlex.quote(json.dumps(self.options(files, wildcards), sort_keys=True))

    def outputs_arg(self, output) -> str:
        """``KEY=PATH`` for every output, in declared order."""
        return " ".join(f"{o.key}={getattr(output, o.key)}" for o in self.outputs)

    def caption_file(self, output: Output, folder: str | Path) -> Path:
        return Path(folder) / f"{self.name}-{output.key}.rst"


STUDIES: Registry[Study] = Registry("study")


def register_study(name: str, run: Callable[..., None], outputs, **kw) -> Study:
    """Register study ``name`` (and its ``prunebench analyze`` kind); returns it."""
    study = Study(name, run, tuple(outputs), **kw)
    STUDIES.decorator(name, lambda s: s)(study)
    KINDS.decorator(name, lambda fn: fn)(run)
    return study


def load_studies() -> list[Study]:
    """Every study: the modules of this package and the ``study`` modules of the method packages, imported
    (they register themselves), in name order."""
    from .. import methods, studies

    for pkg in (studies, methods):
        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            importlib.import_module(mod.name)
    return [STUDIES.get(n) for n in sorted(STUDIES.names())]


def write_captions(studies: list[Study], folder: str | Path) -> None:
    """Each caption as a ``.rst`` file for Snakemake's report (rewritten only when its text changed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for st in studies:
        for o in st.outputs:
            if o.caption:
                f = st.caption_file(o, folder)
                text = o.caption.strip() + "\n"
                if not f.exists() or f.read_text() != text:
                    io.write_text(f, text)


def study_targets(files) -> list[str]:
    """What ``rule all`` asks for of every study the config has."""
    return sorted({t for st in load_studies() for t in st.targets(files)})


def scorers_with_study(files, name: str) -> list[str]:
    """The configured scorers (not external, ablation or uniform copies) whose method lists study ``name``
    (``register_scorer(studies=…)``)."""
    from ..scorers import get_scorer

    return [n for n, spec in files.specs.items()
            if spec.kind != "external" and not spec.ablation and not spec.uniform_of
            and name in get_scorer(spec.method).studies]

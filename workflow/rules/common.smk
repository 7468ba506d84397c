import json
import os
import re
import shlex
from pathlib import Path

import yaml

from prunebench import io, paths, plan
from prunebench.scorers import get_scorer

plan.refuse_workflow_dir(workflow.basedir)
# the command a job's integrity error names to rebuild a damaged file (prunebench.io.rebuild_hint)
os.environ[io.COMMAND_ENV] = plan.snakemake_command(workflow.configfiles)
DEFAULT_CONFIG = Path(workflow.basedir).parent / "config" / "config.yaml"
# a --configfile states what it changes (plan.merge_config: named entries merged, other keys replaced);
# validated once against the schema (defaults filled in) and checked as `snakemake -n` checks it
_effective, SPECS = plan.configure(
    yaml.safe_load(DEFAULT_CONFIG.read_text()),
    config,
    Path(workflow.basedir) / "schemas" / "config.schema.yaml",
)
config.clear()
config.update(_effective)
# every input builder: pure functions of the config and its specs (plan.Files, unit-tested in tests/)
FILES = plan.Files(config, SPECS)
EXP, DATASET, SEEDS = FILES.exp, FILES.dataset, FILES.seeds
RATIOS = [plan.fmt_ratio(r) for r in config["ratios"]]
PY_SCORERS = [n for n, s in SPECS.items() if s.kind == "score"]
EXT_SCORERS = [n for n, s in SPECS.items() if s.kind == "external"]
SOLVER_SCORERS = [n for n, s in SPECS.items() if s.kind == "solver"]


wildcard_constraints:
    **plan.WILDCARDS,


def each(kind, suffix="", **keys):
    """Contract paths of ``kind`` (paths.TEMPLATES) for a rule: one per combination of the keys given as
    lists, the keys given as one value filled in, every other key left as a wildcard."""
    lists = {k: v for k, v in keys.items() if isinstance(v, (list, tuple))}
    fixed = {k: v for k, v in keys.items() if k not in lists}
    return expand(paths.rule_path(kind, suffix, expand=tuple(lists), **fixed), **lists)


jarg = plan.jarg  # a JSON object as one shell word
GPU = plan.gpu_resource(config)  # the gpu resource of every rule that trains or scores
THREADS = plan.resources.threads(
    config
)  # torch threads of a job (not --cores: results stay the same)
DEVICE = config.get("device", "cpu")


def data_dir(w):
    """The prepared dataset folder of a job (``--data``)."""
    return paths.rule_path("data", dataset=w.dataset)


def model_kw(name):
    return config.get("models", {}).get(name, {})


def surrogate_recipe():
    return config["surrogate"]["recipe"]


def retrain_recipe():
    return (config.get("retrain") or {}).get("recipe") or surrogate_recipe()


def result_keys(w):
    """Path keys recorded in every retrain result (ratio and seed are added per run)."""
    # the result's path keys but target, ratio and seed
    keys = ("exp", *paths.SETTING_KEYS[:-1])
    return jarg({k: w[k] for k in keys})


def external_command(w, input, output):
    """The user's shell line with {input.*}, {output.*}, {wildcards.*}, {seed},
    {surrogate} (this seed's surrogate folder) filled in."""
    spec = config["external_scorers"][w.scorer]["shell"]
    sur = (FILES.surrogate_dirs(w, w.s) or [""])[0]
    return spec.format(input=input, output=output, wildcards=w, seed=w.s, surrogate=sur)


def fetch_options():
    """dataset.options in one spelling (sorted, defaults left out), so that two configs asking for
    the same data do not re-fetch it through Snakemake's params trigger."""
    from prunebench.data.contract import canonical_options

    d = config["dataset"]
    return jarg(canonical_options(d["name"], d.get("options") or {}))


def external_keep_args(w):
    """validate-scores options: the config's external_scorers.NAME.keep, when given, must match the meta."""
    keep = (config.get("external_scorers") or {}).get(w.scorer, {}).get("keep")
    return f"--keep {keep} --keep-key external_scorers.{w.scorer}.keep" if keep else ""

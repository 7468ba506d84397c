"""The workflow's plan, computed from the config: which scorers, settings, jobs and files a run produces.
The Snakefile binds these (``workflow/rules/common.smk``); they are unit-tested in tests/.

One module per concern:

* :mod:`.config` — the effective config (merge onto the default); :func:`configure` validates and checks it once;
* :mod:`.schema` — the config schema: short messages, ``--config`` coercion, defaults;
* :mod:`.specs` — the scorers (:class:`ScorerSpec`) and their protocols;
* :mod:`.datasets` — dataset ids and what is known of their sizes before any job runs;
* :mod:`.surrogates` — the surrogate runs and their folders;
* :mod:`.jobs` — the retraining settings, budgets and how they are grouped into jobs;
* :mod:`.checks` — the semantic checks run at ``snakemake -n``;
* :mod:`.arguments` — command-line arguments the rules pass on;
* :mod:`.resources` — the resources the rules declare;
* :mod:`.files` — the files each rule waits for (:class:`Files`).
"""

from __future__ import annotations

from os import PathLike

from .arguments import jarg, partition_args, snakemake_command, surrogate_args
from .checks import check, check_plan, refuse_workflow_dir
from .config import DEFAULT_CONFIG, NAMED_MAPS, ConfigError, load_config, merge_config, only_sweeps
from .datasets import (
    dataset_id,
    in_shape_hint,
    known_class_counts,
    long_tail_datasets,
    long_tail_id,
    long_tail_ratio,
    n_train_hint,
    num_classes_hint,
    prepared_class_counts,
    sweep_datasets,
)
from .files import Files
from .jobs import (
    RETRAIN_KEYS,
    WILDCARDS,
    alternation,
    budget_job_runs,
    budget_settings,
    budget_slug,
    default_budget,
    fmt_ratio,
    retrain_groups,
    retrain_rule_order,
    retrain_settings,
    sweep_budgets,
    sweep_ratios,
)
from .resources import gpu_resource
from .schema import validate_config
from .specs import (
    PROTOCOLS,
    UNIFORM_STRATEGY,
    ScorerSpec,
    protocol_pairs,
    reference_method,
    scorer_specs,
    sweep_scorers,
    uniform_name,
)
from .surrogates import (
    surrogate_epochs,
    surrogate_run_dirs,
    surrogate_seed_dir,
    surrogate_seeds,
    surrogate_setting,
    variant_recipe,
    variant_users,
)


def configure(default: dict, given: dict, schema_path: str | PathLike, data_root: str | PathLike = "data",
              cache_dir: str | PathLike | None = ".snakemake/prunebench"):
    """The effective config of ``given`` on ``default``, validated once (schema, defaults filled in), cut to
    ``only_sweeps`` when it names some, and checked as `snakemake -n` checks it; with its scorer specs."""
    cfg = merge_config(default, given)
    validate_config(cfg, schema_path)
    if cfg.get("only_sweeps"):
        cfg["sweeps"] = only_sweeps(cfg["sweeps"], cfg["only_sweeps"])
    n_train = n_train_hint(cfg, data_root)
    check_plan(cfg, n_train, data_root=data_root, cache_dir=cache_dir)
    return cfg, check(cfg, n_train=n_train)


__all__ = [
    "DEFAULT_CONFIG", "NAMED_MAPS", "PROTOCOLS", "RETRAIN_KEYS", "UNIFORM_STRATEGY", "WILDCARDS", "ConfigError",
    "Files", "ScorerSpec", "gpu_resource", "alternation", "budget_job_runs", "budget_settings", "budget_slug", "check",
    "check_plan", "configure", "dataset_id", "default_budget", "fmt_ratio", "in_shape_hint", "jarg",
    "known_class_counts", "load_config", "long_tail_datasets", "long_tail_id", "long_tail_ratio", "merge_config",
    "n_train_hint", "num_classes_hint", "only_sweeps", "partition_args", "prepared_class_counts",
    "protocol_pairs", "reference_method", "refuse_workflow_dir", "retrain_groups", "retrain_rule_order",
    "retrain_settings", "scorer_specs", "snakemake_command", "surrogate_args", "surrogate_epochs",
    "surrogate_run_dirs", "surrogate_seed_dir", "surrogate_seeds", "surrogate_setting", "sweep_budgets",
    "sweep_datasets", "sweep_ratios", "sweep_scorers", "uniform_name", "validate_config", "variant_recipe",
    "variant_users",
]

"""Command-line arguments the rules pass to ``prunebench`` and ``snakemake``, built from the config."""

from __future__ import annotations

import json
import shlex

from .surrogates import surrogate_setting


def jarg(obj) -> str:
    """A JSON object as one shell word."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def snakemake_command(configfiles) -> str:
    """The command line that runs the plan of ``configfiles`` (named in rebuild hints); a config file inside
    the working directory as its relative path (Snakemake hands the workflow absolute ones)."""
    import os

    def shown(f) -> str:
        rel = os.path.relpath(f)
        return rel if not rel.startswith("..") else str(f)

    return " ".join(["snakemake --cores all"] + [f"--configfile {shlex.quote(shown(f))}" for f in configfiles])


def surrogate_args(cfg: dict, variant: str | None) -> str:
    """``train-surrogate`` options for the checkpoints and the recorder of a surrogate (variant)."""
    st = surrogate_setting(cfg, variant)
    return (f"--T {st['T']} --sampling {st['sampling']} --save-epochs {' '.join(map(str, st['save_epochs']))} "
            f"{'--eval-pass' if st['eval_pass'] else '--no-eval-pass'}")


def partition_args(cfg: dict, variant: str) -> str:
    """``train-surrogate`` options of a partitioned variant ('' for a plain one)."""
    v = (cfg.get("surrogate_variants") or {})[variant]
    k = int(v.get("partitions", 1))
    if k == 1:
        return ""
    return (f"--partitions {k} --partition-mode {v.get('partition_mode', 'contiguous')} "
            f"--partition-seed {int(v.get('partition_seed', 0))}")

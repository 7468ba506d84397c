# Versioning with DVC: explicit targets, not part of `all` (docs/guides/dvc.md).
#   snakemake --cores all snapshot         dvc add the files of the current plan under results/{exp} (and data/)
#   snakemake --cores all snapshot_push    the same, then dvc push to the default remote
# Then commit the .dvc files, DVC's .gitignore entries and results/{exp}/.dvcignore with git.
# The snapshot reads the plan from Snakemake's dry run of the same config files (prunebench.dryrun); files of
# results/{exp} outside it (a scorer or sweep removed from the config) are stale: listed on the terminal and
# in the log with an `rm` line, left out through results/{exp}/.dvcignore, never deleted.
# `run:` + shell(): DVC runs with Snakemake's own interpreter (the repository's environment, where
# dvc is installed), never inside a rule's conda env.
import shlex
import sys

from prunebench.snapshot import plan_options

PYTHON = shlex.quote(sys.executable)
# this run's --configfile and --config: the snapshot's dry run plans the same run
PLAN_OPTIONS = plan_options(workflow.configfiles, workflow.config_settings.config_args)


rule snapshot:
    """Track the files of this experiment's current plan with DVC (prunebench.snapshot)."""
    input:
        FILES.final_outputs(),
    log:
        paths.log_path("step", exp=EXP, step="snapshot"),
    localrule: True
    params:
        push="",
        plan=PLAN_OPTIONS,
    run:
        shell(
            "{PYTHON} -m prunebench.snapshot --exp {EXP} {params.plan} {params.push} 2>&1 | tee {log}"
        )


use rule snapshot as snapshot_push with:
    log:
        paths.log_path("step", exp=EXP, step="snapshot_push"),
    params:
        push="--push",
        plan=PLAN_OPTIONS,

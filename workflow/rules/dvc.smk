# Versioning with DVC: explicit targets, not part of `all` (docs/dvc.md).
#   snakemake --cores all snapshot         dvc add every output of results/{exp} (and data/)
#   snakemake --cores all snapshot_push    the same, then dvc push to the default remote
# Then commit the .dvc files and DVC's .gitignore entries with git.
# `run:` + shell(): DVC runs with Snakemake's own interpreter (the repository's environment, where
# dvc is installed), never inside a rule's conda env.
import shlex
import sys

PYTHON = shlex.quote(sys.executable)


rule snapshot:
    """Track the finished outputs of this experiment with DVC (prunebench.snapshot)."""
    input:
        FILES.final_outputs(),
    log:
        paths.log_path("step", exp=EXP, step="snapshot"),
    localrule: True
    params:
        push="",
    run:
        shell("{PYTHON} -m prunebench.snapshot --exp {EXP} {params.push} > {log} 2>&1")


use rule snapshot as snapshot_push with:
    log:
        paths.log_path("step", exp=EXP, step="snapshot_push"),
    params:
        push="--push",

# `snakemake --report FILE` refuses while `snakemake -n` has jobs pending (prunebench.report_check): a
# report of missing or out-of-date figures and tables is not built by mistake. A dry run in a subprocess.
from prunebench import report_check

report_check.refuse_if_pending()


rule convergence:
    """Full-data references vs the same runs at 2x the epochs: the regime label of every setting."""
    input:
        short=FILES.retrain_files(FILES.full_refs),
        long=FILES.convergence_files(),
    output:
        table=paths.rule_path("table", name="convergence.csv"),
    log:
        paths.log_path("step", step="convergence"),
    conda:
        "../envs/plots.yaml"
    params:
        options=lambda w, input: jarg({"n_long": len(input.long)}),
    shell:
        "prunebench analyze convergence --in {input.short} {input.long} --options {params.options} "
        "--out table={output.table} > {log} 2>&1"


rule aggregate:
    input:
        results=FILES.retrain_files(FILES.retrain),
        convergence=FILES.convergence_table(),
    output:
        long=paths.rule_path("table", name="retrain.csv"),
        summary=paths.rule_path("table", name="accuracy.csv"),
    log:
        paths.log_path("step", step="aggregate"),
    conda:
        "../envs/plots.yaml"
    params:
        convergence=lambda w, input: (
            f"--convergence {input.convergence}" if input.convergence else ""
        ),
    shell:
        "prunebench aggregate --results {input.results} {params.convergence} --out {output.long} "
        "--summary {output.summary} > {log} 2>&1"


rule plot_accuracy:
    input:
        paths.rule_path("table", name="retrain.csv"),
    output:
        pdf=report(
            paths.rule_path("figure", name="accuracy_vs_ratio.pdf"),
            caption="../report/accuracy_vs_ratio.rst",
            category="Head-to-head",
        ),
        png=paths.rule_path("figure", name="accuracy_vs_ratio.png"),
    log:
        paths.log_path("step", step="plot_accuracy"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench plot --table {input} --out-pdf {output.pdf} --out-png {output.png} > {log} 2>&1"


rule significance:
    input:
        paths.rule_path("table", name="retrain.csv"),
    output:
        report(
            paths.rule_path("table", name="significance.csv"),
            caption="../report/significance.rst",
            category="Statistical tests",
        ),
    log:
        paths.log_path("step", step="significance"),
    conda:
        "../envs/plots.yaml"
    params:
        # the reference is random under its release protocol (per class, as DeepCore's uniform)
        options=jarg({"reference": plan.reference_method(SPECS)}),
    shell:
        "prunebench analyze significance --in {input} --options {params.options} --out table={output} "
        "> {log} 2>&1"


rule ranks:
    input:
        paths.rule_path("table", name="retrain.csv"),
    output:
        table=paths.rule_path("table", name="ranks.csv"),
        json=paths.rule_path("table", name="ranks.json"),
        pdf=report(
            paths.rule_path("figure", name="cd_diagram.pdf"),
            caption="../report/cd_diagram.rst",
            category="Statistical tests",
        ),
        png=paths.rule_path("figure", name="cd_diagram.png"),
    log:
        paths.log_path("step", step="ranks"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze ranks --in {input} --out table={output.table} json={output.json} "
        "pdf={output.pdf} png={output.png} > {log} 2>&1"


rule cost:
    input:
        paths.rule_path("table", name="retrain.csv"),
        FILES.cost_inputs(),
    output:
        raw=paths.rule_path("table", name="cost_raw.csv"),
        table=paths.rule_path("table", name="cost.csv"),
        bars_pdf=report(
            paths.rule_path("figure", name="scoring_cost.pdf"),
            caption="../report/scoring_cost.rst",
            category="Cost",
        ),
        bars_png=paths.rule_path("figure", name="scoring_cost.png"),
        pareto_pdf=report(
            paths.rule_path("figure", name="cost_vs_accuracy.pdf"),
            caption="../report/cost_vs_accuracy.rst",
            category="Cost",
        ),
        pareto_png=paths.rule_path("figure", name="cost_vs_accuracy.png"),
    log:
        paths.log_path("step", step="cost"),
    conda:
        "../envs/plots.yaml"
    params:
        options=jarg(
            {
                "n_seeds": len(SEEDS),
                "retrain_ratios": FILES.retrain_job_ratios(),
                "ratios": [float(r) for r in RATIOS],
                "variant_users": plan.variant_users(SPECS),
            }
        ),
    shell:
        "prunebench analyze cost --in {input} --options {params.options} --out raw={output.raw} "
        "table={output.table} bars_pdf={output.bars_pdf} bars_png={output.bars_png} "
        "pareto_pdf={output.pareto_pdf} pareto_png={output.pareto_png} > {log} 2>&1"


rule correlation:
    input:
        FILES.score_files_main(),
    output:
        table=paths.rule_path("table", name="score_correlation.csv"),
        pdf=report(
            paths.rule_path("figure", name="score_correlation.pdf"),
            caption="../report/score_correlation.rst",
            category="Scores",
        ),
        png=paths.rule_path("figure", name="score_correlation.png"),
    log:
        paths.log_path("step", step="correlation"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze correlation --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"

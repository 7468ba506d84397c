rule convergence:
    """Full-data references vs the same runs at 2x the epochs: the regime label of every setting."""
    input:
        short=retrain_files(FULL_REFS),
        long=convergence_files(),
    output:
        table="results/{exp}/tables/convergence.csv",
    log:
        "results/{exp}/logs/convergence.log",
    conda:
        "../envs/plots.yaml"
    params:
        options=lambda w, input: jarg({"n_long": len(input.long)}),
    shell:
        "prunebench analyze convergence --in {input.short} {input.long} --options {params.options} "
        "--out table={output.table} > {log} 2>&1"


rule aggregate:
    input:
        results=retrain_files(RETRAIN),
        convergence=convergence_table(),
    output:
        long="results/{exp}/tables/retrain.csv",
        summary="results/{exp}/tables/accuracy.csv",
    log:
        "results/{exp}/logs/aggregate.log",
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
        "results/{exp}/tables/retrain.csv",
    output:
        pdf=report(
            "results/{exp}/figures/accuracy_vs_ratio.pdf",
            caption="../report/accuracy_vs_ratio.rst",
            category="Head-to-head",
        ),
        png="results/{exp}/figures/accuracy_vs_ratio.png",
    log:
        "results/{exp}/logs/plot_accuracy.log",
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench plot --table {input} --out-pdf {output.pdf} --out-png {output.png} > {log} 2>&1"


rule significance:
    input:
        "results/{exp}/tables/retrain.csv",
    output:
        report(
            "results/{exp}/tables/significance.csv",
            caption="../report/significance.rst",
            category="Statistics",
        ),
    log:
        "results/{exp}/logs/significance.log",
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
        "results/{exp}/tables/retrain.csv",
    output:
        table="results/{exp}/tables/ranks.csv",
        json="results/{exp}/tables/ranks.json",
        pdf=report(
            "results/{exp}/figures/cd_diagram.pdf",
            caption="../report/cd_diagram.rst",
            category="Statistics",
        ),
        png="results/{exp}/figures/cd_diagram.png",
    log:
        "results/{exp}/logs/ranks.log",
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze ranks --in {input} --out table={output.table} json={output.json} "
        "pdf={output.pdf} png={output.png} > {log} 2>&1"


rule cost:
    input:
        "results/{exp}/tables/retrain.csv",
        cost_inputs(),
    output:
        raw="results/{exp}/tables/cost_raw.csv",
        table="results/{exp}/tables/cost.csv",
        bars_pdf=report(
            "results/{exp}/figures/scoring_cost.pdf",
            caption="../report/scoring_cost.rst",
            category="Cost",
        ),
        bars_png="results/{exp}/figures/scoring_cost.png",
        pareto_pdf=report(
            "results/{exp}/figures/cost_vs_accuracy.pdf",
            caption="../report/cost_vs_accuracy.rst",
            category="Cost",
        ),
        pareto_png="results/{exp}/figures/cost_vs_accuracy.png",
    log:
        "results/{exp}/logs/cost.log",
    conda:
        "../envs/plots.yaml"
    params:
        options=jarg(
            {
                "n_seeds": len(SEEDS),
                "retrain_ratios": retrain_job_ratios(),
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
        score_files_main(),
    output:
        table="results/{exp}/tables/score_correlation.csv",
        pdf=report(
            "results/{exp}/figures/score_correlation.pdf",
            caption="../report/score_correlation.rst",
            category="Scores",
        ),
        png="results/{exp}/figures/score_correlation.png",
    log:
        "results/{exp}/logs/correlation.log",
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze correlation --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"

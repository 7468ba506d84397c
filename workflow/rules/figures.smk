rule aggregate:
    input:
        retrain_files(RETRAIN),
    output:
        long="results/{exp}/tables/retrain.csv",
        summary="results/{exp}/tables/accuracy.csv",
    log:
        "results/{exp}/logs/aggregate.log",
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench aggregate --results {input} --out {output.long} --summary {output.summary} > {log} 2>&1"


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

rule select:
    input:
        scores="results/{exp}/{dataset}/{noise}/scores/{arch}/{scorer}/seed{s}.csv",
        labels="results/{exp}/{dataset}/{noise}/labels.npz",
    output:
        [
            "results/{exp}/{dataset}/{noise}/subsets/{arch}/{scorer}/{strategy}/r%s/seed{s}.npy"
            % r
            for r in RATIOS
        ],
    log:
        "results/{exp}/logs/select/{dataset}_{noise}_{arch}_{scorer}_{strategy}_seed{s}.log",
    benchmark:
        "results/{exp}/benchmarks/select/{dataset}_{noise}_{arch}_{scorer}_{strategy}_seed{s}.tsv"
    wildcard_constraints:
        strategy="(?!solver$|all$)[A-Za-z0-9_]+",
    conda:
        "../envs/data.yaml"
    params:
        ratios=" ".join(RATIOS),
        sparams=lambda w: jarg(SPECS[w.scorer].strategy_params),
    shell:
        "prunebench select --scores {input.scores} --labels {input.labels} "
        "--strategy {wildcards.strategy} --ratios {params.ratios} --seed {wildcards.s} "
        "--params {params.sparams} --out {output} > {log} 2>&1"


rule select_full:
    """The full-data reference (ratio 0): every training index."""
    input:
        labels="results/{exp}/{dataset}/{noise}/labels.npz",
    output:
        "results/{exp}/{dataset}/{noise}/subsets/{arch}/full/all/r0.00/seed{s}.npy",
    log:
        "results/{exp}/logs/select/{dataset}_{noise}_{arch}_full_seed{s}.log",
    conda:
        "../envs/data.yaml"
    shell:
        "prunebench select --full --labels {input.labels} --ratios 0 --out {output} > {log} 2>&1"

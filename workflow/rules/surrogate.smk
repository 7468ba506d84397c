rule train_surrogate:
    input:
        train=paths.rule_path("data", "train.npz"),
        labels=paths.rule_path("labels"),
    output:
        meta=paths.rule_path("surrogate", "surrogate.json"),
        dynamics=paths.rule_path("surrogate", "dynamics.npz"),
        model=paths.rule_path("surrogate", "model.pt"),
        log_csv=paths.rule_path("surrogate", "train_log.csv"),
        timing=paths.rule_path("surrogate", "surrogate.timing.json"),
    log:
        paths.log_path("surrogate"),
    benchmark:
        paths.benchmark_path("surrogate")
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        data=data_dir,
        recipe=jarg(surrogate_recipe()),
        model_kw=lambda w: jarg(model_kw(w.arch)),
        sargs=plan.surrogate_args(config, None),
        device=DEVICE,
        threads=THREADS,
        out=lambda w, output: os.path.dirname(output.meta),
    shell:
        "prunebench train-surrogate --data {params.data} --labels {input.labels} "
        "--arch {wildcards.arch} --seed {wildcards.s} --out {params.out} --recipe {params.recipe} "
        "--model-kw {params.model_kw} {params.sargs} --device {params.device} --threads {params.threads} "
        "--no-progress > {log} 2>&1"


# Other surrogate setups (config surrogate_variants) that scorers name with `surrogate: NAME`:
# another recipe (e.g. Adam for the optimizer ablation) or K disjoint partitions trained in one job
# (the MoSo release). One folder per (variant, seed) (paths.TEMPLATES["surrogate_variant"]),
# with part{k}/ sub-folders when partitioned.
rule train_surrogate_variant:
    input:
        train=paths.rule_path("data", "train.npz"),
        labels=paths.rule_path("labels"),
    output:
        run=directory(paths.rule_path("surrogate_variant")),
    log:
        paths.log_path("surrogate_variant"),
    benchmark:
        paths.benchmark_path("surrogate_variant")
    wildcard_constraints:
        variant=plan.alternation(config.get("surrogate_variants") or {}),
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        data=data_dir,
        recipe=lambda w: jarg(plan.variant_recipe(config, w.variant)),
        model_kw=lambda w: jarg(model_kw(w.arch)),
        sargs=lambda w: plan.surrogate_args(config, w.variant),
        partitions=lambda w: plan.partition_args(config, w.variant),
        device=DEVICE,
        threads=THREADS,
    shell:
        "prunebench train-surrogate --data {params.data} --labels {input.labels} "
        "--arch {wildcards.arch} --seed {wildcards.s} --out {output.run} --recipe {params.recipe} "
        "--model-kw {params.model_kw} {params.sargs} {params.partitions} --device {params.device} "
        "--threads {params.threads} --no-progress > {log} 2>&1"

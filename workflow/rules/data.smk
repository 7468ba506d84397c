rule fetch:
    output:
        train=paths.rule_path("data", "train.npz"),
        test=paths.rule_path("data", "test.npz"),
        meta=paths.rule_path("data", "meta.json"),
    log:
        paths.log_path("fetch"),
    benchmark:
        paths.benchmark_path("fetch")
    wildcard_constraints:
        dataset=re.escape(DATASET),
    conda:
        "../envs/data.yaml"
    params:
        data=data_dir,
        name=config["dataset"]["name"],
        source=lambda w: (
            f"--source {shlex.quote(config['dataset']['source'])}"
            if config["dataset"].get("source")
            else ""
        ),
        options=fetch_options(),
    shell:
        "prunebench fetch --dataset {params.name} --out {params.data} "
        "{params.source} --options {params.options} > {log} 2>&1"


rule long_tail:
    """The configured dataset's long-tailed variant {dataset}-lt{rho} (sweep key imbalance)."""
    input:
        train=paths.rule_path("data", "train.npz", dataset=DATASET),
        meta=paths.rule_path("data", "meta.json", dataset=DATASET),
    output:
        train=paths.rule_path("data", "train.npz"),
        test=paths.rule_path("data", "test.npz"),
        meta=paths.rule_path("data", "meta.json"),
    log:
        paths.log_path("long_tail"),
    benchmark:
        paths.benchmark_path("long_tail")
    wildcard_constraints:
        dataset=plan.alternation(plan.long_tail_datasets(config)),
    conda:
        "../envs/data.yaml"
    params:
        data=data_dir,
        ratio=lambda w: plan.long_tail_ratio(w.dataset),
        seed=config.get("imbalance_seed", 0),
    shell:
        "prunebench long-tail --data $(dirname {input.train}) --ratio {params.ratio} --seed {params.seed} "
        "--out {params.data} > {log} 2>&1"


rule noise:
    input:
        train=paths.rule_path("data", "train.npz"),
        meta=paths.rule_path("data", "meta.json"),
    output:
        labels=paths.rule_path("labels"),
        meta=paths.rule_path("labels_meta"),
    log:
        paths.log_path("noise"),
    benchmark:
        paths.benchmark_path("noise")
    conda:
        "../envs/data.yaml"
    params:
        data=data_dir,
        seed=config.get("noise_seed", 0),
    shell:
        "prunebench noise --data {params.data} --noise {wildcards.noise} "
        "--seed {params.seed} --out {output.labels} > {log} 2>&1"

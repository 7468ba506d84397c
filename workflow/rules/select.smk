rule select:
    """Score file → kept indices for every ratio and seed (numpy only: cheap)."""
    input:
        scores=each("scores", ".csv", s=SEEDS),
        score_meta=each("scores", ".meta.json", s=SEEDS),
        labels=paths.rule_path("labels"),
        meta=paths.rule_path("data", "meta.json"),
    output:
        subsets=each("subset", ".npy", s=SEEDS, ratio=RATIOS),
        meta=each("subset", ".meta.json", s=SEEDS, ratio=RATIOS),
    log:
        paths.log_path("select"),
    benchmark:
        paths.benchmark_path("select")
    wildcard_constraints:
        scorer=plan.alternation(PY_SCORERS + EXT_SCORERS),
        strategy="(?!(?:solver|all)/)[A-Za-z0-9_]+",
    conda:
        "../envs/data.yaml"
    params:
        ratios=" ".join(RATIOS),
        seeds=" ".join(map(str, SEEDS)),
        sparams=lambda w: jarg(SPECS[w.scorer].strategy_params),
        # registered scorers record the dataset's hash: check it (external programs may not)
        data=lambda w: f"--data {data_dir(w)}" if w.scorer in PY_SCORERS else "",
    shell:
        "prunebench select --scores {input.scores} --labels {input.labels} {params.data} "
        "--dataset-meta {input.meta} "
        "--strategy {wildcards.strategy} --ratios {params.ratios} --seed {params.seeds} "
        "--params {params.sparams} --out {output.subsets} > {log} 2>&1"


rule select_full:
    """The full-data reference (ratio 0): every training index."""
    input:
        labels=paths.rule_path("labels"),
    output:
        subset=paths.rule_path(
            "subset", ".npy", scorer="full", strategy="all", ratio="0.00"
        ),
        meta=paths.rule_path(
            "subset", ".meta.json", scorer="full", strategy="all", ratio="0.00"
        ),
    log:
        paths.log_path("select_full"),
    conda:
        "../envs/data.yaml"
    shell:
        "prunebench select --full --labels {input.labels} --ratios 0 --out {output.subset} > {log} 2>&1"


rule solve:
    """Solver methods (optimization-based pruning) write their subsets for every ratio
    directly under strategy 'solver', plus a score file (influence norm); every seed in one job.
    """
    input:
        train=paths.rule_path("data", "train.npz"),
        labels=paths.rule_path("labels"),
        surrogates=FILES.surrogate_inputs,
    output:
        scores=each("scores", ".csv", s=SEEDS),
        meta=each("scores", ".meta.json", s=SEEDS),
        timing=each("scores", ".timing.json", s=SEEDS),
        subsets=each("subset", ".npy", s=SEEDS, ratio=RATIOS, strategy="solver"),
        subset_meta=each(
            "subset", ".meta.json", s=SEEDS, ratio=RATIOS, strategy="solver"
        ),
    log:
        paths.log_path("scores"),
    benchmark:
        paths.benchmark_path("scores")
    wildcard_constraints:
        scorer=plan.alternation(SOLVER_SCORERS),
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        data=data_dir,
        method=lambda w: SPECS[w.scorer].method,
        params=lambda w: jarg(SPECS[w.scorer].params),
        surrogates=lambda w: " ".join(FILES.surrogate_dirs_all_seeds(w)),
        per_seed=lambda w: max(1, len(FILES.surrogate_dirs(w, SEEDS[0]))),
        seeds=" ".join(map(str, SEEDS)),
        ratios=" ".join(RATIOS),
        device=DEVICE,
        threads=THREADS,
    shell:
        "prunebench solve --method {params.method} --name {wildcards.scorer} --data {params.data} "
        "--labels {input.labels} --surrogate {params.surrogates} --surrogates-per-seed {params.per_seed} "
        "--seed {params.seeds} --params {params.params} --ratios {params.ratios} --scores {output.scores} "
        "--out {output.subsets} --device {params.device} --threads {params.threads} --no-progress > {log} 2>&1"

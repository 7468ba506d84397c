rule score:
    """A registered scorer, every seed in one job (start-up paid once)."""
    input:
        train=paths.rule_path("data", "train.npz"),
        labels=paths.rule_path("labels"),
        surrogates=FILES.surrogate_inputs,
    output:
        scores=each("scores", ".csv", s=SEEDS),
        meta=each("scores", ".meta.json", s=SEEDS),
        timing=each("scores", ".timing.json", s=SEEDS),
    log:
        paths.log_path("scores"),
    benchmark:
        paths.benchmark_path("scores")
    wildcard_constraints:
        scorer=plan.alternation(PY_SCORERS),
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
        device=DEVICE,
        threads=THREADS,
    shell:
        "prunebench score --method {params.method} --name {wildcards.scorer} "
        "--data {params.data} --labels {input.labels} --surrogate {params.surrogates} "
        "--surrogates-per-seed {params.per_seed} --seed {params.seeds} --params {params.params} "
        "--out {output.scores} --device {params.device} --threads {params.threads} --no-progress > {log} 2>&1"


rule external_score:
    """A user program from config external_scorers writes the score-file contract for one seed;
    it is validated (length, finiteness, index coverage, meta fields) before anything uses it.
    """
    input:
        train=paths.rule_path("data", "train.npz"),
        test=paths.rule_path("data", "test.npz"),
        meta=paths.rule_path("data", "meta.json"),
        labels=paths.rule_path("labels"),
        surrogates=FILES.surrogate_inputs,
    output:
        scores=paths.rule_path("scores", ".csv"),
        meta=paths.rule_path("scores", ".meta.json"),
    log:
        paths.log_path("scores_seed"),
    benchmark:
        paths.benchmark_path("scores_seed")
    wildcard_constraints:
        scorer=plan.alternation(EXT_SCORERS),
    conda:
        "../envs/data.yaml"
    params:
        data=data_dir,
        cmd=lambda w, input, output: external_command(w, input, output),
        keep=external_keep_args,
    shell:
        "( {params.cmd} ) > {log} 2>&1 && "
        "prunebench validate-scores --scores {output.scores} --data {params.data} {params.keep} "
        ">> {log} 2>&1 "
        "|| (cat {log} >&2; exit 1)"

# One retrain rule per sweep (see prunebench.plan.retrain_groups): a job trains every
# (ratio, seed) of one (noise, arch, scorer, strategy, target) and writes one result per run.
# A sweep with `budgets` has one more rule per other budget (below).
for grp in FILES.groups:
    if grp["budget"] is not None:
        continue

    rule:
        name:
            f"retrain_{grp['name']}"
        input:
            train=paths.rule_path("data", "train.npz"),
            labels=paths.rule_path("labels"),
            subsets=each("subset", ".npy", ratio=grp["ratios"], s=SEEDS),
        output:
            each("retrain", ratio=grp["ratios"], s=SEEDS),
        log:
            paths.log_path("retrain"),
        benchmark:
            paths.benchmark_path("retrain")
        wildcard_constraints:
            dataset=plan.alternation(grp["dataset"]),
            noise=plan.alternation(grp["noise"]),
            arch=plan.alternation(grp["arch"]),
            scorer=plan.alternation(grp["scorer"]),
            strategy=plan.alternation(grp["strategy"]),
            target=plan.alternation(grp["target"]),
        conda:
            "../envs/torch.yaml"
        threads: THREADS
        resources:
            gpu=GPU,
        params:
            data=data_dir,
            seeds=" ".join(str(s) for r in grp["ratios"] for s in SEEDS),
            ratios=" ".join(r for r in grp["ratios"] for s in SEEDS),
            recipe=jarg(retrain_recipe()),
            model_kw=lambda w: jarg(model_kw(w.target)),
            budget=plan.default_budget(config),
            result_keys=result_keys,
            device=DEVICE,
            threads=THREADS,
        shell:
            "prunebench retrain --data {params.data} --labels {input.labels} "
            "--subset {input.subsets} --seeds {params.seeds} --ratios {params.ratios} --out {output} "
            "--target {wildcards.target} --recipe {params.recipe} --model-kw {params.model_kw} "
            "--budget {params.budget} --keys {params.result_keys} --device {params.device} "
            "--threads {params.threads} --no-progress > {log} 2>&1"


# The budget study: one job per (sweep, other budget, dataset, noise, arch, target) trains every
# (scorer, strategy, ratio, seed) of the sweep under that budget, writing under budget/{budget}/.
for grp in FILES.groups:
    if grp["budget"] is None:
        continue

    rule:
        name:
            f"retrain_{grp['name']}"
        input:
            train=paths.rule_path("data", "train.npz"),
            labels=paths.rule_path("labels"),
            subsets=FILES.budget_job_paths(grp, "subsets"),
        output:
            FILES.budget_job_paths(grp, "budget"),
        log:
            paths.log_path("retrain_budget", group=grp["name"]),
        benchmark:
            paths.benchmark_path("retrain_budget", group=grp["name"])
        wildcard_constraints:
            dataset=plan.alternation(grp["dataset"]),
            noise=plan.alternation(grp["noise"]),
            arch=plan.alternation(grp["arch"]),
            target=plan.alternation(grp["target"]),
        conda:
            "../envs/torch.yaml"
        threads: THREADS
        resources:
            gpu=GPU,
        params:
            data=data_dir,
            runs=FILES.budget_job_args(grp),
            run_keys=lambda w, grp=grp: jarg(FILES.budget_job_keys(w, grp)),
            recipe=jarg(retrain_recipe()),
            model_kw=lambda w: jarg(model_kw(w.target)),
            budget=grp["budget"],
            device=DEVICE,
            threads=THREADS,
        shell:
            "prunebench retrain --data {params.data} --labels {input.labels} "
            "--subset {input.subsets} {params.runs} --out {output} "
            "--target {wildcards.target} --recipe {params.recipe} --model-kw {params.model_kw} "
            "--budget {params.budget} --keys {params.run_keys} --device {params.device} "
            "--threads {params.threads} --no-progress > {log} 2>&1"


workflow.ruleorder(*plan.retrain_rule_order(FILES.groups))


rule retrain_full:
    """The full-data reference (ratio 0) of one target, every seed."""
    input:
        train=paths.rule_path("data", "train.npz"),
        labels=paths.rule_path("labels"),
        subsets=each(
            "subset", ".npy", s=SEEDS, scorer="full", strategy="all", ratio="0.00"
        ),
    output:
        each(
            "retrain",
            s=SEEDS,
            scorer="full",
            strategy="all",
            ratio="0.00",
            target="{{arch}}",
        ),
    log:
        paths.log_path("retrain_full"),
    benchmark:
        paths.benchmark_path("retrain_full")
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        data=data_dir,
        seeds=" ".join(map(str, SEEDS)),
        recipe=jarg(retrain_recipe()),
        model_kw=lambda w: jarg(model_kw(w.arch)),
        budget=(config.get("retrain") or {}).get("budget", "epochs"),
        result_keys=lambda w: jarg(
            {
                "exp": w.exp,
                "dataset": w.dataset,
                "noise": w.noise,
                "arch": w.arch,
                "scorer": "full",
                "strategy": "all",
                "ratio": 0.0,
            }
        ),
        device=DEVICE,
        threads=THREADS,
    shell:
        "prunebench retrain --data {params.data} --labels {input.labels} "
        "--subset {input.subsets} --seeds {params.seeds} --out {output} --target {wildcards.arch} "
        "--recipe {params.recipe} --model-kw {params.model_kw} --budget {params.budget} "
        "--keys {params.result_keys} --device {params.device} --threads {params.threads} "
        "--no-progress > {log} 2>&1"


ruleorder: retrain_full > retrain_main


use rule retrain_full as retrain_full_long with:
    """The convergence check: the full-data reference again at 2x the epochs, every seed."""
    output:
        each("convergence", s=SEEDS),
    log:
        paths.log_path("retrain_x2"),
    benchmark:
        paths.benchmark_path("retrain_x2")
    params:
        budget="x2",

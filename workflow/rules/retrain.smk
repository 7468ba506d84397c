# One retrain rule per sweep (see prunebench.plan.retrain_groups): a job trains every
# (ratio, seed) of one (noise, arch, scorer, strategy, target) and writes one result per run.
# A sweep with `budgets` has one more rule per other budget (below).
for grp in RETRAIN_GROUPS:
    if grp["budget"] is not None:
        continue

    rule:
        name:
            f"retrain_{grp['name']}"
        input:
            train="data/{dataset}/train.npz",
            labels=paths.rule_path("labels"),
            subsets=each("subset", ".npy", ratio=grp["ratios"], s=SEEDS),
        output:
            each("retrain", ratio=grp["ratios"], s=SEEDS),
        log:
            "results/{exp}/logs/retrain/{dataset}/{noise}/{arch}/{scorer}/{strategy}/{target}.log",
        benchmark:
            "results/{exp}/benchmarks/retrain/{dataset}/{noise}/{arch}/{scorer}/{strategy}/{target}.tsv"
        wildcard_constraints:
            dataset=plan.alternation(grp["dataset"]),
            noise=plan.alternation(grp["noise"]),
            arch=plan.alternation(grp["arch"]),
            scorer=plan.alternation(grp["scorer"]),
            strategy=plan.alternation(grp["strategy"]),
            target=plan.alternation(grp["target"]),
        conda:
            "../envs/torch.yaml"
        threads: config.get("threads", 1)
        resources:
            gpu=1 if str(config.get("device", "cpu")).startswith("cuda") else 0,
        params:
            seeds=" ".join(str(s) for r in grp["ratios"] for s in SEEDS),
            ratios=" ".join(r for r in grp["ratios"] for s in SEEDS),
            recipe=jarg(retrain_recipe()),
            model_kw=lambda w: jarg(model_kw(w.target)),
            budget=plan.default_budget(config),
            result_keys=result_keys,
            device=config.get("device", "cpu"),
            threads=config.get("threads", 1),
        shell:
            "prunebench retrain --data data/{wildcards.dataset} --labels {input.labels} "
            "--subset {input.subsets} --seeds {params.seeds} --ratios {params.ratios} --out {output} "
            "--target {wildcards.target} --recipe {params.recipe} --model-kw {params.model_kw} "
            "--budget {params.budget} --keys {params.result_keys} --device {params.device} "
            "--threads {params.threads} --no-progress > {log} 2>&1"


# The budget study: one job per (sweep, other budget, dataset, noise, arch, target) trains every
# (scorer, strategy, ratio, seed) of the sweep under that budget, writing under budget/{budget}/.
for grp in RETRAIN_GROUPS:
    if grp["budget"] is None:
        continue

    rule:
        name:
            f"retrain_{grp['name']}"
        input:
            train="data/{dataset}/train.npz",
            labels=paths.rule_path("labels"),
            subsets=budget_job_paths(grp, "subsets"),
        output:
            budget_job_paths(grp, "budget"),
        log:
            f"results/{{exp}}/logs/retrain/{{dataset}}/{{noise}}/{{arch}}/budget/{grp['name']}/{{target}}.log",
        benchmark:
            f"results/{{exp}}/benchmarks/retrain/{{dataset}}/{{noise}}/{{arch}}/budget/{grp['name']}/{{target}}.tsv"
        wildcard_constraints:
            dataset=plan.alternation(grp["dataset"]),
            noise=plan.alternation(grp["noise"]),
            arch=plan.alternation(grp["arch"]),
            target=plan.alternation(grp["target"]),
        conda:
            "../envs/torch.yaml"
        threads: config.get("threads", 1)
        resources:
            gpu=1 if str(config.get("device", "cpu")).startswith("cuda") else 0,
        params:
            runs=budget_job_args(grp),
            run_keys=lambda w, grp=grp: budget_job_keys(w, grp),
            recipe=jarg(retrain_recipe()),
            model_kw=lambda w: jarg(model_kw(w.target)),
            budget=grp["budget"],
            device=config.get("device", "cpu"),
            threads=config.get("threads", 1),
        shell:
            "prunebench retrain --data data/{wildcards.dataset} --labels {input.labels} "
            "--subset {input.subsets} {params.runs} --out {output} "
            "--target {wildcards.target} --recipe {params.recipe} --model-kw {params.model_kw} "
            "--budget {params.budget} --keys {params.run_keys} --device {params.device} "
            "--threads {params.threads} --no-progress > {log} 2>&1"


workflow.ruleorder(*plan.retrain_rule_order(RETRAIN_GROUPS))


rule retrain_full:
    """The full-data reference (ratio 0) of one target, every seed."""
    input:
        train="data/{dataset}/train.npz",
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
        "results/{exp}/logs/retrain/{dataset}/{noise}/{arch}/full/all/{arch}.log",
    benchmark:
        "results/{exp}/benchmarks/retrain/{dataset}/{noise}/{arch}/full/all/{arch}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config.get("threads", 1)
    resources:
        gpu=1 if str(config.get("device", "cpu")).startswith("cuda") else 0,
    params:
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
        device=config.get("device", "cpu"),
        threads=config.get("threads", 1),
    shell:
        "prunebench retrain --data data/{wildcards.dataset} --labels {input.labels} "
        "--subset {input.subsets} --seeds {params.seeds} --out {output} --target {wildcards.arch} "
        "--recipe {params.recipe} --model-kw {params.model_kw} --budget {params.budget} "
        "--keys {params.result_keys} --device {params.device} --threads {params.threads} "
        "--no-progress > {log} 2>&1"


ruleorder: retrain_full > retrain_main


rule retrain_full_long:
    """The convergence check: the full-data reference again at 2x the epochs, every seed."""
    input:
        train="data/{dataset}/train.npz",
        labels=paths.rule_path("labels"),
        subsets=each(
            "subset", ".npy", s=SEEDS, scorer="full", strategy="all", ratio="0.00"
        ),
    output:
        expand(
            "results/{{exp}}/{{dataset}}/{{noise}}/convergence/{{arch}}/x2/seed{s}.json",
            s=SEEDS,
        ),
    log:
        "results/{exp}/logs/retrain/{dataset}/{noise}/{arch}/full/x2.log",
    benchmark:
        "results/{exp}/benchmarks/retrain/{dataset}/{noise}/{arch}/full/x2.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config.get("threads", 1)
    resources:
        gpu=1 if str(config.get("device", "cpu")).startswith("cuda") else 0,
    params:
        seeds=" ".join(map(str, SEEDS)),
        recipe=jarg(retrain_recipe()),
        model_kw=lambda w: jarg(model_kw(w.arch)),
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
        device=config.get("device", "cpu"),
        threads=config.get("threads", 1),
    shell:
        "prunebench retrain --data data/{wildcards.dataset} --labels {input.labels} "
        "--subset {input.subsets} --seeds {params.seeds} --out {output} --target {wildcards.arch} "
        "--recipe {params.recipe} --model-kw {params.model_kw} --budget x2 "
        "--keys {params.result_keys} --device {params.device} --threads {params.threads} "
        "--no-progress > {log} 2>&1"

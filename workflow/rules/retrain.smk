rule retrain:
    """One job trains every seed of one (scorer, strategy, ratio, target)."""
    input:
        train="data/{dataset}/train.npz",
        labels="results/{exp}/{dataset}/{noise}/labels.npz",
        subsets=expand(
            "results/{{exp}}/{{dataset}}/{{noise}}/subsets/{{arch}}/{{scorer}}/{{strategy}}/r{{ratio}}/seed{s}.npy",
            s=SEEDS,
        ),
    output:
        expand(
            "results/{{exp}}/{{dataset}}/{{noise}}/retrain/{{arch}}/{{scorer}}/{{strategy}}/r{{ratio}}/{{target}}/seed{s}.json",
            s=SEEDS,
        ),
    log:
        "results/{exp}/logs/retrain/{dataset}_{noise}_{arch}_{scorer}_{strategy}_r{ratio}_{target}.log",
    benchmark:
        "results/{exp}/benchmarks/retrain/{dataset}_{noise}_{arch}_{scorer}_{strategy}_r{ratio}_{target}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=1 if str(config.get("device", "cpu")).startswith("cuda") else 0,
    params:
        seeds=" ".join(map(str, SEEDS)),
        recipe=jarg(retrain_recipe()),
        model_kw=lambda w: jarg(model_kw(w.target)),
        budget=(config.get("retrain") or {}).get("budget", "epochs"),
        result_keys=lambda w: jarg(
            {
                "exp": w.exp,
                "dataset": w.dataset,
                "noise": w.noise,
                "arch": w.arch,
                "scorer": w.scorer,
                "strategy": w.strategy,
                "ratio": float(w.ratio),
            }
        ),
        device=config.get("device", "cpu"),
        threads=config.get("threads", 1),
    shell:
        "prunebench retrain --data data/{wildcards.dataset} --labels {input.labels} "
        "--subset {input.subsets} --seeds {params.seeds} --out {output} --target {wildcards.target} "
        "--recipe {params.recipe} --model-kw {params.model_kw} --budget {params.budget} "
        "--keys {params.result_keys} --device {params.device} --threads {params.threads} --no-progress > {log} 2>&1"

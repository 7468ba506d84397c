rule train_surrogate:
    input:
        train="data/{dataset}/train.npz",
        labels="results/{exp}/{dataset}/{noise}/labels.npz",
    output:
        meta="results/{exp}/{dataset}/{noise}/surrogate/{arch}/seed{s}/surrogate.json",
        dynamics="results/{exp}/{dataset}/{noise}/surrogate/{arch}/seed{s}/dynamics.npz",
        model="results/{exp}/{dataset}/{noise}/surrogate/{arch}/seed{s}/model.pt",
        log_csv="results/{exp}/{dataset}/{noise}/surrogate/{arch}/seed{s}/train_log.csv",
        timing="results/{exp}/{dataset}/{noise}/surrogate/{arch}/seed{s}/surrogate.timing.json",
    log:
        "results/{exp}/logs/surrogate/{dataset}/{noise}/{arch}/seed{s}.log",
    benchmark:
        "results/{exp}/benchmarks/surrogate/{dataset}/{noise}/{arch}/seed{s}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config.get("threads", 1)
    resources:
        gpu=1 if str(config.get("device", "cpu")).startswith("cuda") else 0,
    params:
        recipe=jarg(surrogate_recipe()),
        model_kw=lambda w: jarg(model_kw(w.arch)),
        T=config["surrogate"].get("T", 10),
        sampling=config["surrogate"].get("sampling", "even"),
        save_epochs=" ".join(map(str, config["surrogate"].get("save_epochs", []))),
        device=config.get("device", "cpu"),
        threads=config.get("threads", 1),
        out=lambda w, output: os.path.dirname(output.meta),
    shell:
        "prunebench train-surrogate --data data/{wildcards.dataset} --labels {input.labels} "
        "--arch {wildcards.arch} --seed {wildcards.s} --out {params.out} --recipe {params.recipe} "
        "--model-kw {params.model_kw} --T {params.T} --sampling {params.sampling} "
        "--save-epochs {params.save_epochs} --device {params.device} --threads {params.threads} "
        "--no-progress > {log} 2>&1"

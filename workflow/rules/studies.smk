# The studies: label noise, cross-architecture transfer, ablations, stability, lossless ratio,
# subset composition. Each runs `prunebench analyze KIND` (prunebench/studies/study_kinds.py).


rule noise_grid:
    input:
        "results/{exp}/tables/retrain.csv",
    output:
        pdf=report(
            "results/{exp}/figures/noise_grid.pdf",
            caption="../report/noise_grid.rst",
            category="Label noise",
        ),
        png="results/{exp}/figures/noise_grid.png",
    log:
        paths.log_path("study", study="noise_grid"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze noise_grid --in {input} --out pdf={output.pdf} png={output.png} > {log} 2>&1"


rule noisy_removed:
    input:
        FILES.noisy_inputs(),
    output:
        table="results/{exp}/tables/noisy_removed.csv",
        pdf=report(
            "results/{exp}/figures/noisy_removed.pdf",
            caption="../report/noisy_removed.rst",
            category="Label noise",
        ),
        png="results/{exp}/figures/noisy_removed.png",
    log:
        paths.log_path("study", study="noisy_removed"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze noisy_removed --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"


rule crossarch:
    input:
        "results/{exp}/tables/retrain.csv",
    output:
        table="results/{exp}/tables/crossarch_gain.csv",
        pdf=report(
            "results/{exp}/figures/crossarch_gain.pdf",
            caption="../report/crossarch_gain.rst",
            category="Cross-architecture",
        ),
        png="results/{exp}/figures/crossarch_gain.png",
    log:
        paths.log_path("study", study="crossarch"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze crossarch --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"


rule ablation:
    input:
        "results/{exp}/tables/retrain.csv",
        FILES.ablation_inputs(),
    output:
        table="results/{exp}/tables/ablation.csv",
        pdf=report(
            "results/{exp}/figures/ablation.pdf",
            caption="../report/ablation.rst",
            category="Ablations",
        ),
        png="results/{exp}/figures/ablation.png",
    log:
        paths.log_path("study", study="ablation"),
    conda:
        "../envs/plots.yaml"
    params:
        options=jarg(
            {
                "surrogate_variants": {
                    n: s.method for n, s in SPECS.items() if s.ablation and s.surrogate
                }
            }
        ),
    shell:
        "prunebench analyze ablation --in {input} --options {params.options} --out table={output.table} "
        "pdf={output.pdf} png={output.png} > {log} 2>&1"


rule imbalance:
    """Class imbalance: pruning a long-tailed training set (sweep key imbalance)."""
    input:
        FILES.imbalance_inputs(),
    output:
        table="results/{exp}/tables/imbalance.csv",
        pdf=report(
            "results/{exp}/figures/imbalance.pdf",
            caption="../report/imbalance.rst",
            category="Ablations",
        ),
        png="results/{exp}/figures/imbalance.png",
    log:
        paths.log_path("study", study="imbalance"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze imbalance --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"


rule stability:
    input:
        FILES.main_inputs(SEEDS)[0],
    output:
        table="results/{exp}/tables/score_stability.csv",
        pdf=report(
            "results/{exp}/figures/score_stability.pdf",
            caption="../report/score_stability.rst",
            category="Scores",
        ),
        png="results/{exp}/figures/score_stability.png",
    log:
        paths.log_path("study", study="stability"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze stability --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"


rule protocol:
    """Each method under its authors' protocol (registry) and under the uniform one, paired by seed."""
    input:
        "results/{exp}/tables/retrain.csv",
    output:
        table="results/{exp}/tables/protocol.csv",
        pdf=report(
            "results/{exp}/figures/protocol.pdf",
            caption="../report/protocol.rst",
            category="Head-to-head",
        ),
        png="results/{exp}/figures/protocol.png",
    log:
        paths.log_path("study", study="protocol"),
    conda:
        "../envs/plots.yaml"
    params:
        options=lambda w: jarg({"pairs": FILES.protocol_pairs_all()}),
    shell:
        "prunebench analyze protocol --in {input} --options {params.options} --out table={output.table} "
        "pdf={output.pdf} png={output.png} > {log} 2>&1"


rule budget:
    """The budget study: the same subsets retrained under each budget of a sweep's `budgets`."""
    input:
        FILES.budget_files(),
    output:
        table="results/{exp}/tables/budget.csv",
        rank="results/{exp}/tables/budget_rank.csv",
        pdf=report(
            "results/{exp}/figures/budget.pdf",
            caption="../report/budget.rst",
            category="Head-to-head",
        ),
        png="results/{exp}/figures/budget.png",
    log:
        paths.log_path("study", study="budget"),
    conda:
        "../envs/plots.yaml"
    params:
        options=jarg({"reference": plan.reference_method(SPECS)}),
    shell:
        "prunebench analyze budget --in {input} --options {params.options} --out table={output.table} "
        "rank={output.rank} pdf={output.pdf} png={output.png} > {log} 2>&1"


rule lossless:
    input:
        "results/{exp}/tables/retrain.csv",
    output:
        table="results/{exp}/tables/lossless_ratio.csv",
        pdf=report(
            "results/{exp}/figures/lossless_ratio.pdf",
            caption="../report/lossless_ratio.rst",
            category="Head-to-head",
        ),
        png="results/{exp}/figures/lossless_ratio.png",
    log:
        paths.log_path("study", study="lossless"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze lossless --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"


rule composition:
    input:
        FILES.main_inputs([0])[0],
        FILES.main_inputs([0])[1],
        FILES.main_inputs([0])[2],
        train=f"data/{DATASET}/train.npz",
    output:
        table="results/{exp}/tables/class_composition.csv",
        pdf=report(
            "results/{exp}/figures/class_composition.pdf",
            caption="../report/class_composition.rst",
            category="Subsets",
        ),
        png="results/{exp}/figures/class_composition.png",
        grid_pdf=report(
            "results/{exp}/figures/sample_grid.pdf",
            caption="../report/sample_grid.rst",
            category="Subsets",
        ),
        grid_png="results/{exp}/figures/sample_grid.png",
    log:
        paths.log_path("study", study="composition"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze composition --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} grid_pdf={output.grid_pdf} grid_png={output.grid_png} > {log} 2>&1"


rule epsilon_study:
    """Optimization-based pruning, program 1: ε → fraction pruned → test accuracy."""
    input:
        train="data/{dataset}/train.npz",
        labels=paths.rule_path("labels"),
        surrogates=expand(
            "results/{{exp}}/{{dataset}}/{{noise}}/surrogate/{{arch}}/seed{s}/surrogate.json",
            s=SEEDS,
        ),
    output:
        dir=directory("results/{exp}/{dataset}/{noise}/epsilon/{arch}/{scorer}"),
        table="results/{exp}/tables/epsilon_{dataset}_{noise}_{arch}_{scorer}.csv",
        pdf=report(
            "results/{exp}/figures/epsilon_{dataset}_{noise}_{arch}_{scorer}.pdf",
            caption="../report/epsilon.rst",
            category="Optimization-based pruning",
        ),
        png="results/{exp}/figures/epsilon_{dataset}_{noise}_{arch}_{scorer}.png",
    log:
        paths.log_path("study", study="epsilon_{dataset}_{noise}_{arch}_{scorer}"),
    benchmark:
        paths.benchmark_path("study", study="epsilon_{dataset}_{noise}_{arch}_{scorer}")
    conda:
        "../envs/torch.yaml"
    params:
        options=lambda w: jarg(
            {
                "data": f"data/{w.dataset}",
                "labels": f"results/{w.exp}/{w.dataset}/{w.noise}/labels.npz",
                "surrogates": [
                    f"results/{w.exp}/{w.dataset}/{w.noise}/surrogate/{w.arch}/seed{s}"
                    for s in SEEDS
                ],
                "seeds": SEEDS,
                "target": w.arch,
                "recipe": retrain_recipe(),
                "model_kw": model_kw(w.arch),
                "epsilons": config.get("studies", {}).get("epsilons", [2, 8, 32, 128]),
                "method_params": SPECS[w.scorer].params,
                "device": config.get("device", "cpu"),
                "threads": config.get("threads", 1),
            }
        ),
    shell:
        "prunebench analyze epsilon --in {input.labels} --options {params.options} --out dir={output.dir} "
        "table={output.table} pdf={output.pdf} png={output.png} > {log} 2>&1"


rule optprune_check:
    """Influence of removing sets vs actual retraining (logistic regression, tiny digits subset)."""
    output:
        table="results/{exp}/tables/optprune_check.csv",
        json="results/{exp}/tables/optprune_check.json",
        pdf=report(
            "results/{exp}/figures/optprune_check.pdf",
            caption="../report/optprune_check.rst",
            category="Optimization-based pruning",
        ),
        png="results/{exp}/figures/optprune_check.png",
    log:
        paths.log_path("study", study="optprune_check"),
    benchmark:
        paths.benchmark_path("study", study="optprune_check")
    conda:
        "../envs/torch.yaml"
    params:
        options=jarg(
            config.get("studies", {}).get(
                "optprune_check",
                {"n": 60, "models": ["logreg"], "sets_per_frac": 6, "steps": 2000},
            )
        ),
    shell:
        "prunebench analyze optprune_check --in none --options {params.options} --out table={output.table} "
        "json={output.json} pdf={output.pdf} png={output.png} > {log} 2>&1"


rule agreement:
    """MoSo: first-order estimate vs exact leave-one-out on tiny convex / MLP problems."""
    output:
        table="results/{exp}/tables/moso_agreement.csv",
        summary="results/{exp}/tables/moso_agreement_summary.csv",
        pdf=report(
            "results/{exp}/figures/moso_agreement.pdf",
            caption="../report/moso_agreement.rst",
            category="MoSo",
        ),
        png="results/{exp}/figures/moso_agreement.png",
    log:
        paths.log_path("study", study="agreement"),
    benchmark:
        paths.benchmark_path("study", study="agreement")
    conda:
        "../envs/torch.yaml"
    params:
        options=jarg(
            config.get("studies", {}).get("agreement", {"n": 40, "steps": 200})
        ),
    shell:
        "prunebench analyze agreement --in none --options {params.options} --out table={output.table} "
        "summary={output.summary} pdf={output.pdf} png={output.png} > {log} 2>&1"

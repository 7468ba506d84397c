# The studies: label noise, cross-architecture transfer, ablations, stability, lossless ratio,
# subset composition. Each runs `prunebench analyze KIND` (prunebench/studies/study_kinds.py; a
# method's own studies, ε and the checks, are in prunebench/methods/<method>/).


rule noise_grid:
    input:
        paths.rule_path("table", name="retrain.csv"),
    output:
        pdf=report(
            paths.rule_path("figure", name="noise_grid.pdf"),
            caption="../report/noise_grid.rst",
            category="Label noise",
        ),
        png=paths.rule_path("figure", name="noise_grid.png"),
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
        table=paths.rule_path("table", name="noisy_removed.csv"),
        pdf=report(
            paths.rule_path("figure", name="noisy_removed.pdf"),
            caption="../report/noisy_removed.rst",
            category="Label noise",
        ),
        png=paths.rule_path("figure", name="noisy_removed.png"),
    log:
        paths.log_path("study", study="noisy_removed"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze noisy_removed --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"


rule crossarch:
    input:
        paths.rule_path("table", name="retrain.csv"),
    output:
        table=paths.rule_path("table", name="crossarch_gain.csv"),
        pdf=report(
            paths.rule_path("figure", name="crossarch_gain.pdf"),
            caption="../report/crossarch_gain.rst",
            category="Cross-architecture",
        ),
        png=paths.rule_path("figure", name="crossarch_gain.png"),
    log:
        paths.log_path("study", study="crossarch"),
    conda:
        "../envs/plots.yaml"
    shell:
        "prunebench analyze crossarch --in {input} --out table={output.table} pdf={output.pdf} "
        "png={output.png} > {log} 2>&1"


rule ablation:
    input:
        paths.rule_path("table", name="retrain.csv"),
        FILES.ablation_inputs(),
    output:
        table=paths.rule_path("table", name="ablation.csv"),
        pdf=report(
            paths.rule_path("figure", name="ablation.pdf"),
            caption="../report/ablation.rst",
            category="Ablations",
        ),
        png=paths.rule_path("figure", name="ablation.png"),
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
        table=paths.rule_path("table", name="imbalance.csv"),
        pdf=report(
            paths.rule_path("figure", name="imbalance.pdf"),
            caption="../report/imbalance.rst",
            category="Ablations",
        ),
        png=paths.rule_path("figure", name="imbalance.png"),
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
        table=paths.rule_path("table", name="score_stability.csv"),
        pdf=report(
            paths.rule_path("figure", name="score_stability.pdf"),
            caption="../report/score_stability.rst",
            category="Scores",
        ),
        png=paths.rule_path("figure", name="score_stability.png"),
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
        paths.rule_path("table", name="retrain.csv"),
    output:
        table=paths.rule_path("table", name="protocol.csv"),
        pdf=report(
            paths.rule_path("figure", name="protocol.pdf"),
            caption="../report/protocol.rst",
            category="Head-to-head",
        ),
        png=paths.rule_path("figure", name="protocol.png"),
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
        table=paths.rule_path("table", name="budget.csv"),
        rank=paths.rule_path("table", name="budget_rank.csv"),
        pdf=report(
            paths.rule_path("figure", name="budget.pdf"),
            caption="../report/budget.rst",
            category="Head-to-head",
        ),
        png=paths.rule_path("figure", name="budget.png"),
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
        paths.rule_path("table", name="retrain.csv"),
    output:
        table=paths.rule_path("table", name="lossless_ratio.csv"),
        pdf=report(
            paths.rule_path("figure", name="lossless_ratio.pdf"),
            caption="../report/lossless_ratio.rst",
            category="Head-to-head",
        ),
        png=paths.rule_path("figure", name="lossless_ratio.png"),
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
        train=paths.rule_path("data", "train.npz", dataset=DATASET),
    output:
        table=paths.rule_path("table", name="class_composition.csv"),
        pdf=report(
            paths.rule_path("figure", name="class_composition.pdf"),
            caption="../report/class_composition.rst",
            category="Subsets",
        ),
        png=paths.rule_path("figure", name="class_composition.png"),
        grid_pdf=report(
            paths.rule_path("figure", name="sample_grid.pdf"),
            caption="../report/sample_grid.rst",
            category="Subsets",
        ),
        grid_png=paths.rule_path("figure", name="sample_grid.png"),
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
        train=paths.rule_path("data", "train.npz"),
        labels=paths.rule_path("labels"),
        surrogates=each("surrogate", "surrogate.json", s=SEEDS),
    output:
        dir=directory(paths.rule_path("epsilon")),
        table=paths.rule_path(
            "table", name="epsilon_{dataset}_{noise}_{arch}_{scorer}.csv"
        ),
        pdf=report(
            paths.rule_path(
                "figure", name="epsilon_{dataset}_{noise}_{arch}_{scorer}.pdf"
            ),
            caption="../report/epsilon.rst",
            category="Optimization-based pruning",
        ),
        png=paths.rule_path(
            "figure", name="epsilon_{dataset}_{noise}_{arch}_{scorer}.png"
        ),
    log:
        paths.log_path("study", study="epsilon_{dataset}_{noise}_{arch}_{scorer}"),
    benchmark:
        paths.benchmark_path("study", study="epsilon_{dataset}_{noise}_{arch}_{scorer}")
    conda:
        "../envs/torch.yaml"
    params:
        options=lambda w: jarg(
            {
                "data": paths.rule_path("data", dataset=w.dataset),
                "labels": paths.labels_path(w.exp, w.dataset, w.noise),
                "surrogates": [
                    paths.rule_path(
                        "surrogate",
                        exp=w.exp,
                        dataset=w.dataset,
                        noise=w.noise,
                        arch=w.arch,
                        s=s,
                    )
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
        table=paths.rule_path("table", name="optprune_check.csv"),
        json=paths.rule_path("table", name="optprune_check.json"),
        pdf=report(
            paths.rule_path("figure", name="optprune_check.pdf"),
            caption="../report/optprune_check.rst",
            category="Optimization-based pruning",
        ),
        png=paths.rule_path("figure", name="optprune_check.png"),
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
        table=paths.rule_path("table", name="moso_agreement.csv"),
        summary=paths.rule_path("table", name="moso_agreement_summary.csv"),
        pdf=report(
            paths.rule_path("figure", name="moso_agreement.pdf"),
            caption="../report/moso_agreement.rst",
            category="MoSo",
        ),
        png=paths.rule_path("figure", name="moso_agreement.png"),
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

"""plan.Files: the files each rule waits for, as pure functions of the config (the Snakefile's input
builders, unit-tested here rather than only through a dry run)."""

import re
from pathlib import Path

import pytest

from prunebench import paths, plan

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "config" / "config.yaml", ROOT / "tests" / "data" / "tiny.yaml",
           *sorted((ROOT / "config" / "presets").glob("*.yaml"))]


def _files(path=ROOT / "tests" / "data" / "tiny.yaml", mutate=None) -> plan.Files:
    cfg = plan.load_config(path)
    if mutate:
        mutate(cfg)
    return plan.Files(cfg, plan.check(cfg))


def _w(f: plan.Files, scorer: str, arch: str = "cnn_small", noise: str = "clean") -> dict:
    return {"exp": f.exp, "dataset": f.dataset, "noise": noise, "arch": arch, "scorer": scorer}


@pytest.mark.parametrize("cfg_path", CONFIGS, ids=lambda p: p.stem)
def test_every_contract_file_is_a_contract_path_of_a_retrain_setting(cfg_path):
    """contract_files: each score, subset and retrain file parses (paths.parse) to the keys of a retrain setting
    of the plan, every setting's files are there for every seed, and nothing is listed twice."""
    f = _files(cfg_path)
    files = f.contract_files()
    assert len(files) == len(set(files))
    settings = {tuple(st[k] for k in plan.RETRAIN_KEYS): st
                for st in f.retrain}
    parsed = {"scores": [], "subset": [], "retrain": []}
    for p in files:
        for kind in parsed:
            try:
                parsed[kind].append(paths.parse(p, kind))
            except ValueError:
                pass
    for k in parsed["retrain"]:
        assert (k["dataset"], k["noise"], k["arch"], k["scorer"], k["strategy"], k["target"]) in settings
    scorers = {st["scorer"] for st in f.retrain} - {"full"}
    assert {k["scorer"] for k in parsed["scores"]} == scorers
    assert {k["seed"] for k in parsed["subset"]} == set(f.seeds)
    for st in f.retrain:
        for s in f.seeds:
            assert paths.rule_path("retrain", exp=f.exp, s=s, **st) in files
            assert paths.subset_path(f.exp, st["dataset"], st["noise"], st["arch"], st["scorer"], st["strategy"],
                                     st["ratio"], s) in files
    # rule all asks for the contract files and the studies' figures, each once
    final = f.final_outputs()
    assert set(files) <= set(final) and set(f.study_outputs()) <= set(final)


@pytest.mark.parametrize("cfg_path", CONFIGS, ids=lambda p: p.stem)
def test_cost_inputs_are_the_benchmarks_the_cost_table_parses(cfg_path):
    """Every benchmark file cost_inputs asks for parses back (paths.parse_job, the cost table's reader) to a
    job of the plan; every retrain setting has its retrain job's benchmark."""
    f = _files(cfg_path)
    bench = [p for p in f.cost_inputs() if p.endswith(".tsv")]
    jobs = [paths.parse_job(p) for p in bench]
    assert None not in jobs
    retrain = {(j["dataset"], j["noise"], j["arch"], j["scorer"], j["strategy"], j["target"])
               for j in jobs if j["stage"] == "retrain"}
    for st in f.retrain:
        target = st["target"] if st["scorer"] != "full" else st["arch"]
        assert (st["dataset"], st["noise"], st["arch"], st["scorer"], st["strategy"], target) in retrain
    assert {j["stage"] for j in jobs} <= {"surrogate", "score", "select", "retrain"}
    timing = [p for p in f.cost_inputs() if not p.endswith(".tsv")]
    assert all(p.endswith(".timing.json") or "/surrogate/" in p for p in timing)


def test_surrogate_inputs_follow_the_scorers_surrogate():
    f = _files()
    assert f.surrogate_inputs(_w(f, "random")) == []  # random reads no surrogate
    base = "results/tiny/digits/clean/surrogate/cnn_small"
    assert f.surrogate_inputs(_w(f, "el2n")) == [f"{base}/seed{s}/surrogate.json" for s in f.seeds]
    # a variant's seed folder is one directory output; partitions are its sub-folders
    assert f.surrogate_inputs(_w(f, "moso-part2")) == [f"{base}/part2/seed{s}" for s in f.seeds]
    assert f.surrogate_dirs(_w(f, "moso-part2"), 1) == [f"{base}/part2/seed1/part{k}" for k in range(2)]
    assert f.surrogate_dirs_all_seeds(_w(f, "moso-adam")) == [f"{base}/adam/seed{s}" for s in f.seeds]


def test_surrogate_inputs_with_averaged_surrogates():
    """A scorer averaging over K surrogates waits for seeds s, s+S, …, s+(K−1)S of every score seed."""
    f = _files(mutate=lambda c: c["scorers"]["el2n"].update(average_surrogates=2))
    assert f.specs["el2n"].average_surrogates == 2
    base = "results/tiny/digits/clean/surrogate/cnn_small"
    assert f.surrogate_dirs(_w(f, "el2n"), 1) == [f"{base}/seed1", f"{base}/seed3"]
    assert f.surrogate_inputs(_w(f, "el2n")) == [f"{base}/seed{k}/surrogate.json" for k in (0, 2, 1, 3)]


def test_budget_and_convergence_files():
    f = _files()  # tiny.yaml's budget sweep: its runs under the other budget, steps
    assert f.budget and all(st["budget"] == "steps" for st in f.budget)
    other = f.retrain_files(f.budget)
    assert other and all("/budget/steps/" in p for p in other)
    own = f.retrain_files([{**f.budget[0], "budget": "epochs"}])  # the run's own budget: under retrain/
    assert own and all("/retrain/" in p for p in own)
    assert set(f.budget_files()) >= set(other) | set(own)
    grp = next(g for g in f.groups if g["budget"] == "steps")
    runs = plan.budget_job_runs(grp, len(f.seeds))
    subs, res = f.budget_job_paths(grp, "subsets"), f.budget_job_paths(grp, "budget")
    assert len(subs) == len(res) == len(runs)
    assert all("{exp}" in p and "{target}" in p and "/budget/steps/" in p for p in res)
    assert f.budget_job_args(grp).split(" --ratios ")[0].split()[1:] == [str(r["seed"]) for r in runs]
    assert [k["scorer"] for k in f.budget_job_keys(_w(f, "x"), grp)] == [r["scorer"] for r in runs]
    assert f.convergence_files() == sorted(
        f"results/tiny/{d}/clean/convergence/cnn_small/x2/seed{s}.json" for d in ("digits", "digits-lt5")
        for s in f.seeds)  # one per full-data reference: the dataset and its long-tailed version
    assert f.convergence_table() == ["results/tiny/tables/convergence.csv"]
    off = _files(mutate=lambda c: c["retrain"].update(convergence_check=False))
    assert off.convergence_files() == [] == off.convergence_table()


def test_main_and_study_inputs():
    f = _files()
    assert f.main_setting() == ("clean", "cnn_small")
    scores, subs, labels = f.main_inputs([0])
    assert labels == "results/tiny/digits/clean/labels.npz"
    assert {paths.parse(p, "scores")["scorer"] for p in scores} == {
        st["scorer"] for st in f.retrain if f.in_main(st)} - {"full"}
    assert {paths.parse(p, "subset")["seed"] for p in subs} == {0}
    assert f.score_files_main() == [p for p in scores]
    # ablation: the variants and the method they vary, every seed
    assert {paths.parse(p, "scores")["scorer"] for p in f.ablation_inputs()} == {"moso", "moso-adam", "moso-part2"}
    # imbalance: the long-tailed settings and their balanced twins, full data included
    imb = [paths.parse(p, "retrain") for p in f.imbalance_inputs()]
    assert {k["dataset"] for k in imb} == {"digits", "digits-lt5"}
    assert {(k["scorer"], k["dataset"]) for k in imb} >= {("full", "digits"), ("full", "digits-lt5"),
                                                           ("el2n", "digits-lt5"), ("el2n", "digits")}
    assert f.noisy_inputs() == []  # the tiny config is clean
    assert any(p[1] == "uniform" for p in f.protocol_pairs_all())
    outs = f.study_outputs()
    assert "results/tiny/figures/imbalance.pdf" in outs and "results/tiny/figures/ablation.pdf" in outs
    assert "results/tiny/figures/moso_agreement.pdf" in outs  # a scorer's own study (register_scorer(studies=))
    noisy = _files(mutate=lambda c: c["sweeps"]["main"].update(noise=["sym20"]))
    assert paths.labels_path("tiny", "digits", "sym20") in noisy.noisy_inputs()
    assert "results/tiny/figures/noisy_removed.pdf" in noisy.study_outputs()


def test_retrain_job_ratios_list_each_jobs_ratios_once():
    f = _files()
    rows = f.retrain_job_ratios()
    keys = [tuple(r[:-1]) for r in rows]
    assert len(keys) == len(set(keys)) and all(r[-1] == [0.5] for r in rows)
    assert not any(r[3] == "full" for r in rows)


def _code_of(text: str) -> str:
    """A rules file without its comments and docstrings (what runs)."""
    text = re.sub(r'"""[\s\S]*?"""', "", text)
    return "\n".join(line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_every_rule_writes_its_logs_and_benchmarks_through_paths():
    """The rules spell no path: contract files, tables, figures, logs and benchmark files come from
    paths.TEMPLATES / paths.JOBS, and each job template the cost table reads round-trips through
    paths.parse_job."""
    for f in [*sorted((ROOT / "workflow" / "rules").glob("*.smk")), ROOT / "workflow" / "Snakefile"]:
        code = _code_of(f.read_text())
        assert "logs/" not in code and "benchmarks/" not in code, f.name
        for literal in ('"results/', '"data/{', "/tables/", "/figures/", "/surrogate/"):
            assert literal not in code, f"{f.name} spells {literal}"
        # the spirit: no path is put together in a rule, not even in a shell line or an f-string
        for shape in (r"(?<![\w.{])(data|results)/", r"\{wildcards\.\w+\}/|/\{wildcards\.", r"/seed\{|\{exp\}/",
                      r"/(scores|subsets|retrain|budget|convergence)/"):
            found = re.search(shape, code)
            assert found is None, f"{f.name} builds a path itself: ...{code[max(0, found.start() - 40):found.end() + 20]}..."
    keys = dict(exp="e", dataset="digits", noise="sym20", arch="cnn_small", scorer="el2n", strategy="keep",
                target="mlp", variant="adam", s=3)
    for stage, jobs in paths.COST_JOBS.items():
        for job in jobs:
            p = paths.benchmark_path(job, **keys)
            got = paths.parse_job(p)
            want = {k: v for k, v in keys.items() if "{" + k + "}" in paths.JOBS[job] and k != "s"}
            if "{s}" in paths.JOBS[job]:
                want["seed"] = 3
            assert got == {"stage": stage, **want}, p
    assert paths.parse_job("results/e/benchmarks/retrain/digits/clean/cnn_small/full/x2.tsv") is None
    assert paths.log_path("retrain_budget", group="g") == (
        "results/{exp}/logs/retrain/{dataset}/{noise}/{arch}/budget/g/{target}.log")
    assert paths.benchmark_path("fetch") == "data/benchmarks/fetch_{dataset}.tsv"
    with pytest.raises(ValueError, match="log"):
        paths.job_file("fetch", "trace")

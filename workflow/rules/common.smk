import json
import re
import shlex
from pathlib import Path

import yaml

from snakemake.utils import validate

from prunebench import checks, paths, plan
from prunebench.scorers import get_scorer

checks.refuse_workflow_dir(workflow.basedir)
DEFAULT_CONFIG = Path(workflow.basedir).parent / "config" / "config.yaml"
# a --configfile states what it changes (plan.merge_config: named entries merged, other keys replaced)
_effective = plan.merge_config(yaml.safe_load(DEFAULT_CONFIG.read_text()), config)
config.clear()
config.update(_effective)

checks.validate_config(
    config, Path(workflow.basedir) / "schemas" / "config.schema.yaml"
)
validate(config, "../schemas/config.schema.yaml")
if config.get("only_sweeps"):
    config["sweeps"] = plan.only_sweeps(config["sweeps"], config["only_sweeps"])

EXP = config["name"]
DATASET = plan.dataset_id(config)
SEEDS = list(range(config["seeds"]))
checks.check_plan(config, plan.n_train_hint(config))
SPECS = plan.check(config, n_train=plan.n_train_hint(config))
RATIOS = [plan.fmt_ratio(r) for r in config["ratios"]]
PY_SCORERS = [n for n, s in SPECS.items() if s.kind == "score"]
EXT_SCORERS = [n for n, s in SPECS.items() if s.kind == "external"]
SOLVER_SCORERS = [n for n, s in SPECS.items() if s.kind == "solver"]


wildcard_constraints:
    **plan.WILDCARDS,


def each(kind, suffix="", **keys):
    """Contract paths of ``kind`` (paths.TEMPLATES) for a rule: one per combination of the keys given as
    lists, the keys given as one value filled in, every other key left as a wildcard."""
    lists = {k: v for k, v in keys.items() if isinstance(v, (list, tuple))}
    fixed = {k: v for k, v in keys.items() if k not in lists}
    return expand(paths.rule_path(kind, suffix, expand=tuple(lists), **fixed), **lists)


def jarg(obj):
    """A JSON object as one shell word."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def model_kw(name):
    return config.get("models", {}).get(name, {})


def surrogate_recipe():
    return config["surrogate"]["recipe"]


def retrain_recipe():
    return (config.get("retrain") or {}).get("recipe") or surrogate_recipe()


def surrogate_dirs(w, seed):
    """The surrogate runs one seed of scorer w.scorer reads (none for random)."""
    spec = SPECS[w.scorer]
    if not spec.needs_surrogate:
        return []
    root = f"results/{w.exp}/{w.dataset}/{w.noise}"
    out = []
    for k in plan.surrogate_seeds(spec, int(seed), len(SEEDS)):
        out += plan.surrogate_run_dirs(config, root, w.arch, spec.surrogate, k)
    return out


def surrogate_inputs(w):
    """What a scoring job waits for: each plain surrogate run's surrogate.json, or the folder of each
    seed of a surrogate variant (one job writes it, partitions included)."""
    spec = SPECS[w.scorer]
    if not spec.needs_surrogate:
        return []
    if spec.surrogate is None:
        return [f"{d}/surrogate.json" for d in surrogate_dirs_all_seeds(w)]
    root = f"results/{w.exp}/{w.dataset}/{w.noise}"
    return sorted(
        {
            plan.surrogate_seed_dir(root, w.arch, spec.surrogate, k)
            for s in SEEDS
            for k in plan.surrogate_seeds(spec, int(s), len(SEEDS))
        }
    )


def retrain_files(settings):
    """Retrain results of settings (every seed); a setting with a "budget" other than the run's own
    lives under budget/{budget}/ (the budget study)."""
    out = []
    for st in settings:
        b = st.get("budget")
        keys = {k: v for k, v in st.items() if k != "budget"}
        out += expand(
            paths.rule_path(
                "retrain",
                dir=retrain_dir(
                    None if b in (None, plan.default_budget(config)) else b
                ),
            ),
            exp=EXP,
            s=SEEDS,
            **keys,
        )
    return out


def retrain_dir(budget=None):
    """Where retrain results go: retrain/ under the run's budget, budget/{budget}/ under another one."""
    return "retrain" if budget is None else f"budget/{budget}"


def budget_job_paths(grp, kind):
    """Subsets (kind "subsets") or results (kind "budget") of one budget job, in its runs' order, with
    {exp}, {dataset}, {noise}, {arch} and {target} left as wildcards."""
    out = []
    for run in plan.budget_job_runs(grp, len(SEEDS)):
        keys = dict(
            scorer=run["scorer"],
            strategy=run["strategy"],
            ratio=run["ratio"],
            s=run["seed"],
        )
        if kind == "subsets":
            out.append(paths.rule_path("subset", ".npy", **keys))
        else:
            out.append(
                paths.rule_path("retrain", dir=retrain_dir(grp["budget"]), **keys)
            )
    return out


def budget_job_args(grp):
    """--seeds and --ratios of one budget job, one entry per run."""
    runs = plan.budget_job_runs(grp, len(SEEDS))
    return "--seeds {} --ratios {}".format(
        " ".join(str(r["seed"]) for r in runs), " ".join(r["ratio"] for r in runs)
    )


def budget_job_keys(w, grp):
    """The path keys of each run of one budget job (--keys as a list)."""
    return jarg(
        [
            {
                "exp": w.exp,
                "dataset": w.dataset,
                "noise": w.noise,
                "arch": w.arch,
                "scorer": r["scorer"],
                "strategy": r["strategy"],
            }
            for r in plan.budget_job_runs(grp, len(SEEDS))
        ]
    )


def budget_files():
    """The budget study's runs: each budget sweep's runs under the run's budget, then under the others."""
    return retrain_files(plan.budget_settings(config, SPECS, own=True) + BUDGET)


RETRAIN = plan.retrain_settings(config, SPECS)
BUDGET = plan.budget_settings(config, SPECS)
RETRAIN_GROUPS = plan.retrain_groups(config, SPECS)
FULL_REFS = [st for st in RETRAIN if st["scorer"] == "full"]
CONVERGENCE_CHECK = bool((config.get("retrain") or {}).get("convergence_check", True))


def convergence_files():
    """The 2x-epoch runs of every full-data reference (the convergence check)."""
    if not CONVERGENCE_CHECK:
        return []
    return sorted(
        f"results/{EXP}/{st['dataset']}/{st['noise']}/convergence/{st['target']}/x2/seed{s}.json"
        for st in FULL_REFS
        for s in SEEDS
    )


def convergence_table():
    return [f"results/{EXP}/tables/convergence.csv"] if CONVERGENCE_CHECK else []


def result_keys(w):
    """Path keys recorded in every retrain result (ratio and seed are added per run)."""
    keys = ("exp", "dataset", "noise", "arch", "scorer", "strategy")
    return jarg({k: w[k] for k in keys})


def surrogate_dirs_all_seeds(w):
    out = []
    for s in SEEDS:
        out += surrogate_dirs(w, s)
    return out


def get_final_output():
    return (
        [
            f"results/{EXP}/tables/retrain.csv",
            f"results/{EXP}/tables/accuracy.csv",
            f"results/{EXP}/figures/accuracy_vs_ratio.pdf",
            f"results/{EXP}/figures/accuracy_vs_ratio.png",
            f"results/{EXP}/tables/significance.csv",
            f"results/{EXP}/figures/cd_diagram.pdf",
            f"results/{EXP}/figures/scoring_cost.pdf",
            f"results/{EXP}/figures/cost_vs_accuracy.pdf",
            f"results/{EXP}/figures/score_correlation.pdf",
            f"results/{EXP}/figures/noise_grid.pdf",
            f"results/{EXP}/figures/crossarch_gain.pdf",
            f"results/{EXP}/figures/score_stability.pdf",
            f"results/{EXP}/figures/lossless_ratio.pdf",
            f"results/{EXP}/figures/class_composition.pdf",
        ]
        + study_outputs()
        + contract_files()
    )


def external_command(w, input, output):
    """The user's shell line with {input.*}, {output.*}, {wildcards.*}, {seed},
    {surrogate} (this seed's surrogate folder) filled in."""
    spec = config["external_scorers"][w.scorer]["shell"]
    sur = (surrogate_dirs(w, w.s) or [""])[0]
    return spec.format(input=input, output=output, wildcards=w, seed=w.s, surrogate=sur)


def main_setting():
    """(noise, arch) of the head-to-head figure: the first sweep's first entries."""
    sw = next(iter(config["sweeps"].values()))
    return sw["noise"][0], sw["arch"][0]


def in_main(st):
    """A retrain setting of the head-to-head: the configured dataset, the first sweep's noise and arch."""
    noise, arch = main_setting()
    return st["dataset"] == DATASET and st["noise"] == noise and st["arch"] == arch


def score_files_main(seed=0):
    noise, arch = main_setting()
    names = sorted({st["scorer"] for st in RETRAIN if in_main(st)} - {"full"})
    return [paths.scores_path(EXP, DATASET, noise, arch, n, seed) for n in names]


def cost_inputs():
    """Benchmark files of every job behind the retrain results, plus timing sidecars."""
    files = set()
    base = f"results/{EXP}"
    for st in RETRAIN:
        d, nz, a, sc, sg, t = (
            st[k] for k in ("dataset", "noise", "arch", "scorer", "strategy", "target")
        )
        if sc == "full":
            files.add(f"{base}/benchmarks/retrain/{d}/{nz}/{a}/full/all/{a}.tsv")
            continue
        files.add(f"{base}/benchmarks/retrain/{d}/{nz}/{a}/{sc}/{sg}/{t}.tsv")
        spec = SPECS[sc]
        if spec.kind == "external":
            files.update(
                f"{base}/benchmarks/scores/{d}/{nz}/{a}/{sc}/seed{s}.tsv" for s in SEEDS
            )
        else:
            files.add(f"{base}/benchmarks/scores/{d}/{nz}/{a}/{sc}.tsv")
            files.update(
                f"{base}/{d}/{nz}/scores/{a}/{sc}/seed{s}.timing.json" for s in SEEDS
            )
        if spec.kind != "solver":
            files.add(f"{base}/benchmarks/select/{d}/{nz}/{a}/{sc}/{sg}.tsv")
        if spec.needs_surrogate:
            sub = f"{a}/{spec.surrogate}" if spec.surrogate else a
            for s in SEEDS:
                files.add(f"{base}/benchmarks/surrogate/{d}/{nz}/{sub}/seed{s}.tsv")
                # a variant's run is one directory output: its timing sidecar is read inside it
                run = f"{base}/{d}/{nz}/surrogate/{sub}/seed{s}"
                files.add(run if spec.surrogate else f"{run}/surrogate.timing.json")
    return sorted(files)


RETRAIN_KEYS = ("dataset", "noise", "arch", "scorer", "strategy", "target")


def retrain_job_ratios():
    """For the cost table: the ratios each retrain job trains (its group's), first group wins."""
    out = {}
    for g in RETRAIN_GROUPS:
        if g["budget"] is not None:
            continue  # the budget study's other budgets: not behind the head-to-head tables
        for st in RETRAIN:
            k = tuple(st[f] for f in RETRAIN_KEYS)
            if k in out or st["scorer"] == "full":
                continue
            if all(st[f] in g[f] for f in RETRAIN_KEYS):
                out[k] = [float(r) for r in g["ratios"]]
    return [list(k) + [v] for k, v in sorted(out.items())]


def _subset_files(pred, seeds=None):
    out = []
    for st in RETRAIN:
        if st["scorer"] == "full" or not pred(st):
            continue
        for s in seeds if seeds is not None else SEEDS:
            out.append(
                paths.subset_path(
                    EXP,
                    st["dataset"],
                    st["noise"],
                    st["arch"],
                    st["scorer"],
                    st["strategy"],
                    st["ratio"],
                    s,
                )
            )
    return sorted(set(out))


def noisy_inputs():
    """Subsets of the noisy settings and their labels (the evaluation reads 'flipped')."""
    subs = _subset_files(lambda st: st["noise"] != "clean")
    noisy = sorted(
        {(st["dataset"], st["noise"]) for st in RETRAIN if st["noise"] != "clean"}
    )
    return subs + [paths.labels_path(EXP, d, n) for d, n in noisy]


def ablation_inputs():
    """Score files (all seeds) of the ablation variants and their reference settings."""
    names = set()
    for n, spec in SPECS.items():
        if spec.ablation:
            names.add(n)
            if spec.method in SPECS:
                names.add(spec.method)
    noise, arch = main_setting()
    return [
        paths.scores_path(EXP, DATASET, noise, arch, n, s)
        for n in sorted(names)
        for s in SEEDS
    ]


def main_inputs(seeds):
    """Score files and subsets of the head-to-head setting."""
    noise, arch = main_setting()
    subs = _subset_files(lambda st: in_main(st) and st["target"] == arch, seeds)
    names = sorted(
        {st["scorer"] for st in RETRAIN if in_main(st) and st["scorer"] != "full"}
    )
    scores = [
        paths.scores_path(EXP, DATASET, noise, arch, n, s) for n in names for s in seeds
    ]
    return scores, subs, paths.labels_path(EXP, DATASET, noise)


def imbalance_inputs():
    """Retrain results of the long-tailed settings and of the same settings on the dataset as
    prepared (the balanced comparison), full-data runs included."""
    lt = set(plan.long_tail_datasets(config))
    key = lambda st: tuple(st[f] for f in RETRAIN_KEYS[1:])
    wanted = {key(st) for st in RETRAIN if st["dataset"] in lt}
    sel = [
        st for st in RETRAIN if st["dataset"] in lt | {DATASET} and key(st) in wanted
    ]
    return sorted(set(retrain_files(sel)))


def protocol_pairs_all():
    """(method, protocol, scorer, strategy) of the sweeps that run the uniform protocol too."""
    pairs = set()
    for sw in config["sweeps"].values():
        if "uniform" in sw.get("protocols", ["release"]):
            pairs.update(plan.protocol_pairs(config, SPECS, sw))
    return sorted(pairs)


def study_outputs():
    """Figures of the studies the config has: noise (a noisy setting), ablation (variants),
    class imbalance (a long-tailed dataset), protocol (a sweep with the uniform protocol),
    budget (a sweep with other budgets).
    """
    out = []
    if BUDGET:
        out += [
            f"results/{EXP}/figures/budget.pdf",
            f"results/{EXP}/figures/budget.png",
        ]
    if protocol_pairs_all():
        out += [
            f"results/{EXP}/figures/protocol.pdf",
            f"results/{EXP}/figures/protocol.png",
        ]
    if plan.long_tail_datasets(config):
        out.append(f"results/{EXP}/figures/imbalance.pdf")
    if any(st["noise"] != "clean" for st in RETRAIN):
        out.append(f"results/{EXP}/figures/noisy_removed.pdf")
    if any(s.ablation for s in SPECS.values()):
        out.append(f"results/{EXP}/figures/ablation.pdf")
    noise, arch = main_setting()
    for name, spec in SPECS.items():
        if spec.kind == "external" or spec.ablation or spec.uniform_of:
            continue
        out += [
            f"results/{EXP}/"
            + t.format(dataset=DATASET, noise=noise, arch=arch, name=name)
            for t in get_scorer(spec.method).studies
        ]
    return sorted(set(out))


def contract_files():
    """Every contract file behind the tables: prepared data, labels, surrogate runs, score files and
    their meta, subsets, retrain results. Snakemake does not rebuild a missing intermediate file whose
    consumers are up to date, so without these in rule all a deleted (or, after a failed job, removed)
    contract file would stay missing while `snakemake -n` says there is nothing to be done.
    """
    out = set(retrain_files(RETRAIN)) | set(convergence_files()) | set(budget_files())
    for st in RETRAIN:
        ds, nz, arch, sc = (st[k] for k in ("dataset", "noise", "arch", "scorer"))
        root = f"results/{EXP}/{ds}/{nz}"
        here = dict(exp=EXP, dataset=ds, noise=nz, arch=arch)
        out.update(f"data/{ds}/{f}" for f in ("train.npz", "test.npz", "meta.json"))
        out.add(paths.labels_path(EXP, ds, nz))
        if sc == "full":
            out.update(
                paths.subset_path(EXP, ds, nz, arch, "full", "all", 0, s) for s in SEEDS
            )
            continue
        spec = SPECS[sc]
        subset = dict(scorer=sc, strategy=st["strategy"], ratio=st["ratio"])
        for s in SEEDS:
            for ext in (".csv", ".meta.json"):
                out.add(paths.rule_path("scores", ext, scorer=sc, s=s, **here))
            for ext in (".npy", ".meta.json"):
                out.add(paths.rule_path("subset", ext, s=s, **here, **subset))
            if not spec.needs_surrogate:
                continue
            for k in plan.surrogate_seeds(spec, s, len(SEEDS)):
                run = plan.surrogate_seed_dir(root, arch, spec.surrogate, k)
                if spec.surrogate:
                    out.add(run)  # a variant's run is one directory output
                else:
                    out.update(
                        f"{run}/{f}"
                        for f in (
                            "surrogate.json",
                            "dynamics.npz",
                            "model.pt",
                            "train_log.csv",
                        )
                    )
    return sorted(out)


def fetch_options():
    """dataset.options in one spelling (sorted, defaults left out), so that two configs asking for
    the same data do not re-fetch it through Snakemake's params trigger."""
    from prunebench.data.contract import canonical_options

    d = config["dataset"]
    return jarg(canonical_options(d["name"], d.get("options") or {}))


def external_keep_args(w):
    """validate-scores options: the config's external_scorers.NAME.keep, when given, must match the meta."""
    keep = (config.get("external_scorers") or {}).get(w.scorer, {}).get("keep")
    return f"--keep {keep} --keep-key external_scorers.{w.scorer}.keep" if keep else ""

"""The contract files of one run (:class:`Files`): what each rule waits for and what ``rule all`` asks for,
as pure functions of the effective config and its scorer specs."""

from __future__ import annotations

from .. import paths
from .datasets import dataset_id, long_tail_datasets
from .jobs import RETRAIN_KEYS, budget_job_runs, budget_settings, default_budget, retrain_groups, retrain_settings
from .specs import ScorerSpec, protocol_pairs
from .surrogates import surrogate_run_dirs, surrogate_seed_dir, surrogate_seeds

_RUN_FILES = ("surrogate.json", "dynamics.npz", "model.pt", "train_log.csv")


class Files:
    """The contract files of one run, as pure functions of its effective config and its scorer specs
    (:func:`check`): what each rule waits for, what ``rule all`` asks for. ``w`` arguments are a rule's
    wildcards (any mapping with the keys ``exp``, ``dataset``, ``noise``, ``arch``, ``scorer``)."""

    def __init__(self, cfg: dict, specs: dict[str, ScorerSpec]) -> None:
        self.cfg, self.specs = cfg, specs
        self.exp, self.dataset = cfg["name"], dataset_id(cfg)
        self.seeds = list(range(cfg["seeds"]))
        self.retrain = retrain_settings(cfg, specs)
        self.budget = budget_settings(cfg, specs)
        self.groups = retrain_groups(cfg, specs)
        self.full_refs = [st for st in self.retrain if st["scorer"] == "full"]
        self.convergence_check = bool((cfg.get("retrain") or {}).get("convergence_check", True))

    def table(self, name: str) -> str:
        return paths.rule_path("table", exp=self.exp, name=name)

    def figure(self, name: str) -> str:
        return paths.rule_path("figure", exp=self.exp, name=name)

    # surrogates
    def surrogate_dirs(self, w, seed: int) -> list[str]:
        """The surrogate runs one seed of scorer ``w["scorer"]`` reads (none for random)."""
        spec = self.specs[w["scorer"]]
        if not spec.needs_surrogate:
            return []
        out = []
        for k in surrogate_seeds(spec, int(seed), len(self.seeds)):
            out += surrogate_run_dirs(self.cfg, w, spec.surrogate, k)
        return out

    def surrogate_dirs_all_seeds(self, w) -> list[str]:
        return [d for s in self.seeds for d in self.surrogate_dirs(w, s)]

    def surrogate_inputs(self, w) -> list[str]:
        """What a scoring job waits for: each plain surrogate run's surrogate.json, or the folder of each
        seed of a surrogate variant (one job writes it, partitions included)."""
        spec = self.specs[w["scorer"]]
        if not spec.needs_surrogate:
            return []
        if spec.surrogate is None:
            return [f"{d}/surrogate.json" for d in self.surrogate_dirs_all_seeds(w)]
        return sorted({surrogate_seed_dir(w, spec.surrogate, k)
                       for s in self.seeds for k in surrogate_seeds(spec, s, len(self.seeds))})

    # retraining
    @staticmethod
    def retrain_dir(budget: str | None = None) -> str:
        """Where retrain results go: retrain/ under the run's budget, budget/{budget}/ under another one."""
        return "retrain" if budget is None else f"budget/{budget}"

    def retrain_files(self, settings) -> list[str]:
        """Retrain results of ``settings`` (every seed); a setting with a "budget" other than the run's own
        lives under budget/{budget}/ (the budget study)."""
        own = default_budget(self.cfg)
        out = []
        for st in settings:
            b = st.get("budget")
            keys = {k: v for k, v in st.items() if k != "budget"}
            d = self.retrain_dir(None if b in (None, own) else b)
            out += [paths.rule_path("retrain", dir=d, exp=self.exp, s=s, **keys) for s in self.seeds]
        return out

    def budget_job_paths(self, grp: dict, kind: str) -> list[str]:
        """Subsets (kind "subsets") or results (kind "budget") of one budget job, in its runs' order, with
        {exp}, {dataset}, {noise}, {arch} and {target} left as wildcards."""
        out = []
        for run in budget_job_runs(grp, len(self.seeds)):
            keys = dict(scorer=run["scorer"], strategy=run["strategy"], ratio=run["ratio"], s=run["seed"])
            if kind == "subsets":
                out.append(paths.rule_path("subset", ".npy", **keys))
            else:
                out.append(paths.rule_path("retrain", dir=self.retrain_dir(grp["budget"]), **keys))
        return out

    def budget_job_args(self, grp: dict) -> str:
        """--seeds and --ratios of one budget job, one entry per run."""
        runs = budget_job_runs(grp, len(self.seeds))
        return "--seeds {} --ratios {}".format(" ".join(str(r["seed"]) for r in runs),
                                               " ".join(r["ratio"] for r in runs))

    def budget_job_keys(self, w, grp: dict) -> list[dict]:
        """The path keys of each run of one budget job (the job's --keys)."""
        here = {k: w[k] for k in ("exp", *RETRAIN_KEYS[:3])}  # exp, dataset, noise, arch
        return [{**here, "scorer": r["scorer"], "strategy": r["strategy"]} for r in budget_job_runs(grp, len(self.seeds))]

    def budget_files(self) -> list[str]:
        """The budget study's runs: each budget sweep's runs under the run's budget, then under the others."""
        return self.retrain_files(budget_settings(self.cfg, self.specs, own=True) + self.budget)

    def convergence_files(self) -> list[str]:
        """The 2x-epoch runs of every full-data reference (the convergence check)."""
        if not self.convergence_check:
            return []
        return sorted(paths.rule_path("convergence", exp=self.exp, dataset=st["dataset"], noise=st["noise"],
                                           arch=st["target"], s=s) for st in self.full_refs for s in self.seeds)

    def convergence_table(self) -> list[str]:
        return [self.table("convergence.csv")] if self.convergence_check else []

    def retrain_job_ratios(self) -> list[list]:
        """For the cost table: the ratios each retrain job trains (its group's), first group wins."""
        out: dict[tuple, list[float]] = {}
        for g in self.groups:
            if g["budget"] is not None:
                continue  # the budget study's other budgets: not behind the head-to-head tables
            for st in self.retrain:
                k = tuple(st[f] for f in RETRAIN_KEYS)
                if k in out or st["scorer"] == "full":
                    continue
                if all(st[f] in g[f] for f in RETRAIN_KEYS):
                    out[k] = [float(r) for r in g["ratios"]]
        return [list(k) + [v] for k, v in sorted(out.items())]

    # the head-to-head setting
    def main_setting(self) -> tuple[str, str]:
        """(noise, arch) of the head-to-head figure: the first sweep's first entries."""
        sw = next(iter(self.cfg["sweeps"].values()))
        return sw["noise"][0], sw["arch"][0]

    def in_main(self, st: dict) -> bool:
        """A retrain setting of the head-to-head: the configured dataset, the first sweep's noise and arch."""
        noise, arch = self.main_setting()
        return st["dataset"] == self.dataset and st["noise"] == noise and st["arch"] == arch

    def _main_scorers(self) -> list[str]:
        return sorted({st["scorer"] for st in self.retrain if self.in_main(st) and st["scorer"] != "full"})

    def score_files_main(self, seed: int = 0) -> list[str]:
        noise, arch = self.main_setting()
        return [paths.scores_path(self.exp, self.dataset, noise, arch, n, seed) for n in self._main_scorers()]

    def subset_files(self, pred, seeds=None) -> list[str]:
        """Subsets (every seed, or ``seeds``) of the retrain settings ``pred`` accepts, full data left out."""
        return sorted({paths.subset_path(self.exp, st["dataset"], st["noise"], st["arch"], st["scorer"],
                                              st["strategy"], st["ratio"], s)
                       for st in self.retrain if st["scorer"] != "full" and pred(st)
                       for s in (self.seeds if seeds is None else seeds)})

    def main_inputs(self, seeds) -> tuple[list[str], list[str], str]:
        """Score files and subsets of the head-to-head setting, and its labels."""
        noise, arch = self.main_setting()
        subs = self.subset_files(lambda st: self.in_main(st) and st["target"] == arch, seeds)
        scores = [paths.scores_path(self.exp, self.dataset, noise, arch, n, s)
                  for n in self._main_scorers() for s in seeds]
        return scores, subs, paths.labels_path(self.exp, self.dataset, noise)

    # the studies' inputs
    def noisy_inputs(self) -> list[str]:
        """Subsets of the noisy settings and their labels (the evaluation reads 'flipped')."""
        subs = self.subset_files(lambda st: st["noise"] != "clean")
        noisy = sorted({(st["dataset"], st["noise"]) for st in self.retrain if st["noise"] != "clean"})
        return subs + [paths.labels_path(self.exp, d, n) for d, n in noisy]

    def ablation_inputs(self) -> list[str]:
        """Score files (all seeds) of the ablation variants and their reference settings."""
        names = set()
        for n, spec in self.specs.items():
            if spec.ablation:
                names.add(n)
                if spec.method in self.specs:
                    names.add(spec.method)
        noise, arch = self.main_setting()
        return [paths.scores_path(self.exp, self.dataset, noise, arch, n, s)
                for n in sorted(names) for s in self.seeds]

    def imbalance_inputs(self) -> list[str]:
        """Retrain results of the long-tailed settings and of the same settings on the dataset as
        prepared (the balanced comparison), full-data runs included."""
        lt = set(long_tail_datasets(self.cfg))

        def key(st):
            return tuple(st[f] for f in RETRAIN_KEYS[1:])

        wanted = {key(st) for st in self.retrain if st["dataset"] in lt}
        sel = [st for st in self.retrain if st["dataset"] in lt | {self.dataset} and key(st) in wanted]
        return sorted(set(self.retrain_files(sel)))

    def protocol_pairs_all(self) -> list[tuple]:
        """(method, protocol, scorer, strategy) of the sweeps that run the uniform protocol too."""
        pairs = set()
        for sw in self.cfg["sweeps"].values():
            if "uniform" in sw.get("protocols", ["release"]):
                pairs.update(protocol_pairs(self.cfg, self.specs, sw))
        return sorted(pairs)

    def cost_inputs(self) -> list[str]:
        """Benchmark files of every job behind the retrain results, plus timing sidecars."""
        exp = self.exp
        files = set()
        for st in self.retrain:
            d, nz, a, sc, sg, t = (st[k] for k in RETRAIN_KEYS)
            here = dict(exp=exp, dataset=d, noise=nz, arch=a)
            if sc == "full":
                files.add(paths.benchmark_path("retrain_full", **here))
                continue
            files.add(paths.benchmark_path("retrain", scorer=sc, strategy=sg, target=t, **here))
            spec = self.specs[sc]
            if spec.kind == "external":
                files.update(paths.benchmark_path("scores_seed", scorer=sc, s=s, **here) for s in self.seeds)
            else:
                files.add(paths.benchmark_path("scores", scorer=sc, **here))
                files.update(paths.rule_path("scores", ".timing.json", scorer=sc, s=s, **here) for s in self.seeds)
            if spec.kind != "solver":
                files.add(paths.benchmark_path("select", scorer=sc, strategy=sg, **here))
            if spec.needs_surrogate:
                for s in self.seeds:
                    if spec.surrogate:
                        files.add(paths.benchmark_path("surrogate_variant", variant=spec.surrogate, s=s, **here))
                    else:
                        files.add(paths.benchmark_path("surrogate", s=s, **here))
                    # a variant's run is one directory output: its timing sidecar is read inside it
                    run = surrogate_seed_dir(here, spec.surrogate, s)
                    files.add(run if spec.surrogate else f"{run}/surrogate.timing.json")
        return sorted(files)

    # what `rule all` asks for
    def study_outputs(self) -> list[str]:
        """What the registered studies the config has add to ``rule all`` (:attr:`Study.targets`: budget for a
        sweep with other budgets, protocol for the uniform protocol, imbalance for a long-tailed dataset, …,
        and the studies a configured scorer's method lists, ``register_scorer(studies=…)``)."""
        from ..studies.registry import study_targets

        return study_targets(self)

    def contract_files(self) -> list[str]:
        """Every contract file behind the tables: prepared data, labels, surrogate runs, score files and their
        meta, subsets, retrain results. Snakemake does not rebuild a missing intermediate file whose
        consumers are up to date, so without these in rule all a deleted (or, after a failed job, removed)
        contract file would stay missing while `snakemake -n` says there is nothing to be done."""
        exp = self.exp
        out = set(self.retrain_files(self.retrain)) | set(self.convergence_files()) | set(self.budget_files())
        for st in self.retrain:
            ds, nz, arch, sc = (st[k] for k in RETRAIN_KEYS[:4])
            here = dict(exp=exp, dataset=ds, noise=nz, arch=arch)
            out.update(paths.rule_path("data", f, dataset=ds) for f in ("train.npz", "test.npz", "meta.json"))
            out.add(paths.labels_path(exp, ds, nz))
            out.add(paths.rule_path("labels_meta", exp=exp, dataset=ds, noise=nz))
            if sc == "full":
                full = dict(scorer="full", strategy="all", ratio="0.00")
                out.update(paths.rule_path("subset", ext, s=s, **here, **full)
                           for s in self.seeds for ext in (".npy", ".meta.json"))
                continue
            spec = self.specs[sc]
            subset = dict(scorer=sc, strategy=st["strategy"], ratio=st["ratio"])
            for s in self.seeds:
                out.update(paths.rule_path("scores", ext, scorer=sc, s=s, **here) for ext in (".csv", ".meta.json"))
                out.update(paths.rule_path("subset", ext, s=s, **here, **subset) for ext in (".npy", ".meta.json"))
                if not spec.needs_surrogate:
                    continue
                for k in surrogate_seeds(spec, s, len(self.seeds)):
                    run = surrogate_seed_dir(here, spec.surrogate, k)
                    if spec.surrogate:
                        out.add(run)  # a variant's run is one directory output
                    else:
                        out.update(f"{run}/{f}" for f in _RUN_FILES)
        return sorted(out)

    def final_outputs(self) -> list[str]:
        """What ``rule all`` asks for: the tables, the head-to-head figures, the studies' figures and every
        contract file."""
        return ([self.table(t) for t in ("retrain.csv", "accuracy.csv")]
                + [self.figure(f"accuracy_vs_ratio.{e}") for e in ("pdf", "png")]
                + [self.table("significance.csv")]
                + [self.figure(f"{f}.pdf") for f in ("cd_diagram", "scoring_cost", "cost_vs_accuracy",
                                                       "score_correlation")]
                + self.study_outputs() + self.contract_files())

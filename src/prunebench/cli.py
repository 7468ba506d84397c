"""``prunebench`` command line: one subcommand per pipeline stage.

Every Snakemake rule runs one of these. This module only parses the arguments
and calls one function per subcommand (the stages are in :mod:`prunebench.stages`).
Each subcommand imports only what it uses (``import torch`` alone costs ~2 s),
so cheap stages stay cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _json_value(s: str):
    try:
        return json.loads(s)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc


def _json_arg(s: str) -> dict:
    v = _json_value(s)
    if not isinstance(v, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return v


def _keys_arg(s: str) -> dict | list:
    """``--keys``: one JSON object for every run, or a list with one object per run."""
    v = _json_value(s)
    if not (isinstance(v, dict) or (isinstance(v, list) and all(isinstance(k, dict) for k in v))):
        raise argparse.ArgumentTypeError("expected a JSON object, or a list of objects (one per run)")
    return v


def _budget_arg(s: str) -> str:
    from .retrain import parse_budget

    try:
        parse_budget(s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return s


def _common_compute(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads; fixed (default 1) so results do not depend on --cores")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


# --- subcommands -------------------------------------------------------------

def cmd_fetch(a) -> None:
    from .data import prepare

    meta = prepare(a.dataset, a.out, source=a.source, **a.options)
    print(f"{a.dataset}: {meta['n_train']} train / {meta['n_test']} test, shape {meta['shape']} → {a.out}")


def cmd_long_tail(a) -> None:
    from .data import derive_long_tail

    meta = derive_long_tail(a.data, a.out, a.ratio, a.seed)
    lt = meta["long_tail"]
    print(f"long tail ×{a.ratio:g} (seed {a.seed}): {meta['n_train']} of {sum(lt['base_class_counts'])} "
          f"training samples kept, per class {lt['class_counts']} → {a.out}")


def cmd_noise(a) -> None:
    from .stages import noise

    noise(a.data, a.noise, a.seed, a.out)


def cmd_train_surrogate(a) -> None:
    from .stages import surrogate

    surrogate(a.data, a.labels, a.out, a.arch, a.recipe, a.seed, T=a.T, sampling=a.sampling,
              save_epochs=a.save_epochs, eval_pass=a.eval_pass, partitions=a.partitions,
              partition_mode=a.partition_mode, partition_seed=a.partition_seed, model_kw=a.model_kw,
              device=a.device, threads=a.threads, progress=not a.no_progress)


def cmd_score(a) -> None:
    from .stages import score

    score(a.method, a.name, a.data, a.labels, a.surrogate, a.surrogates_per_seed, a.seed, a.params, a.out,
          device=a.device, threads=a.threads, progress=not a.no_progress)


def cmd_validate_scores(a) -> None:
    from .stages import validate_scores

    validate_scores(a.scores, a.data, a.check_hash, a.keep, a.keep_key, a.stamp)


def cmd_select(a) -> None:
    from .stages import select

    select(a.labels, a.out, a.ratios, a.scores, a.seed, full=a.full, data=a.data, dataset_meta=a.dataset_meta,
           strategy=a.strategy, keep=a.keep, params=a.params)


def cmd_solve(a) -> None:
    """A solver method: influence once per seed → score file (influence norm) + one subset per ratio."""
    from .stages import solve

    solve(a.method, a.name, a.data, a.labels, a.surrogate, a.surrogates_per_seed, a.seed, a.params, a.ratios,
          a.scores, a.out, device=a.device, threads=a.threads, progress=not a.no_progress)


def cmd_retrain(a) -> None:
    from .stages import retrain

    retrain(a.data, a.labels, a.subset, a.out, a.target, a.recipe, a.seeds, a.keys, a.ratios, device=a.device,
            threads=a.threads, model_kw=a.model_kw, budget=a.budget, progress=not a.no_progress)


def cmd_aggregate(a) -> None:
    from .aggregate import aggregate

    aggregate(a.results, a.out, a.summary, a.convergence)


def cmd_plot(a) -> None:
    from .plots import accuracy_vs_ratio

    accuracy_vs_ratio(a.table, a.out_pdf, a.out_png)


def cmd_analyze(a) -> None:
    from .studies.runner import run

    out = {}
    for kv in a.out:
        if "=" not in kv:
            raise SystemExit(f"--out takes KEY=PATH pairs, got {kv!r}")
        k, v = kv.split("=", 1)
        out[k] = v
    run(a.kind, a.inputs, out, **a.options)


def cmd_list_scorers(a) -> None:
    from .scorers import protocol_markdown, scorer_table

    print(protocol_markdown() if a.protocols else scorer_table(a.config), end="")


def cmd_check_config(a) -> None:
    """What `snakemake -n` checks before any job, plus YAML errors with their line: Snakemake reports a
    broken --configfile only as "not valid JSON or YAML" (its --verbose traceback has the line)."""
    cfg, specs = _checked_plan(a.configfile, a.workflow, a.data_root)
    print(f"{', '.join(map(str, a.configfile))}: valid ({len(specs)} scorers, {len(cfg['sweeps'])} sweeps)")


def cmd_verify(a) -> None:
    """Every contract file of the plan against the sha256 its writer recorded."""
    from . import plan
    from .verify import print_report, verify

    cfg, specs = _checked_plan(a.configfile, a.workflow, a.data_root)
    files = plan.Files(cfg, specs).contract_files()
    code = print_report(verify(files, a.root), plan.snakemake_command(a.configfile))
    if code:
        raise SystemExit(code)


def _checked_plan(configfiles, workflow: str, data_root: str):
    """The effective config of ``configfiles`` on the default, checked as `snakemake -n` checks it, and
    its scorer specs."""
    import yaml

    from . import plan

    root = Path(workflow).parent
    cfg = {}
    for f in configfiles:
        try:
            with open(f, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
            raise ValueError(f"{f}: not valid YAML at {where}: {exc.problem or exc.context}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{f}: a config file is a mapping of keys, got {type(loaded).__name__}")
        cfg.update(loaded)  # Snakemake's own merge of several --configfile (one file: the file)
    return plan.configure(yaml.safe_load((root / plan.DEFAULT_CONFIG).read_text()), cfg,
                          Path(workflow) / "schemas" / "config.schema.yaml", data_root=data_root, cache_dir=None)


def cmd_list_models(a) -> None:
    from .models import list_models

    print("\n".join(list_models()))


# --- parser --------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="prunebench",
        description="Data-pruning benchmark stages. The Snakemake workflow (workflow/Snakefile) calls these; "
        "each writes one step of the file contract (see README).",
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("fetch", help="prepare a dataset into data/{dataset}/ (train.npz, test.npz, meta.json)")
    p.add_argument("--dataset", required=True, help="digits | fashion_mnist | cifar10 | cifar100 | tiny_imagenet | imagenet")
    p.add_argument("--out", required=True, help="output folder, e.g. data/digits")
    p.add_argument("--source", default=None, help="a local folder with the raw files (optional)")
    p.add_argument("--options", type=_json_arg, default={}, help='dataset options as JSON, e.g. \'{"n_train": 20000}\'')
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("long-tail", help="a prepared dataset → its long-tailed variant (training set only)",
                       description="Keep floor(n_max · ratio^(−c/(C−1))) training samples of class c (the CIFAR-LT "
                       "profile: class 0 is the head, the last class has n_max / ratio); the test set is kept "
                       "whole. Writes the data contract (train.npz, test.npz, meta.json) to --out.")
    p.add_argument("--data", required=True, help="prepared dataset folder (from `prunebench fetch`)")
    p.add_argument("--ratio", type=float, required=True, help="imbalance ratio: largest / smallest class (≥ 1)")
    p.add_argument("--seed", type=int, default=0, help="which samples of each class are kept")
    p.add_argument("--out", required=True, help="output folder, e.g. data/digits-lt10")
    p.set_defaults(func=cmd_long_tail)

    p = sub.add_parser("noise", help="inject seeded label noise → labels.npz (y, flipped)")
    p.add_argument("--data", required=True, help="prepared dataset folder")
    p.add_argument("--noise", required=True, help="clean | symNN | asymNN (NN = percent)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--out", required=True, help="output labels.npz")
    p.set_defaults(func=cmd_noise)

    p = sub.add_parser("train-surrogate", help="train a surrogate, recording per-sample dynamics and checkpoints")
    p.add_argument("--data", required=True)
    p.add_argument("--labels", required=True, help="labels.npz from `prunebench noise`")
    p.add_argument("--arch", required=True, help="model name (see list-models)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="run folder (.../surrogate/{arch}/seed{s})")
    p.add_argument("--recipe", type=_json_arg, default={}, help="training recipe as JSON (epochs, lr, ...)")
    p.add_argument("--model-kw", type=_json_arg, default={}, help="model keyword arguments as JSON")
    p.add_argument("--T", type=int, default=10, help="number of sampled checkpoints (default 10)")
    p.add_argument("--sampling", default="even", choices=["even", "random", "epoch_random"],
                   help="how checkpoints are sampled: even steps, random steps, random epoch ends (MoSo release)")
    p.add_argument("--eval-pass", action=argparse.BooleanOptionalAction, default=True,
                   help="also record each batch's dynamics in an eval-mode pass on un-augmented images after "
                        "its update (eval_* arrays, the DynUnc release's view; default on)")
    p.add_argument("--save-epochs", type=int, nargs="*", default=[], help="also save these epoch ends")
    p.add_argument("--partitions", type=int, default=1,
                   help="K > 1: train K surrogates on K disjoint partitions into OUT/part{k} (MoSo release)")
    p.add_argument("--partition-mode", default="contiguous", choices=["contiguous", "random"],
                   help="contiguous blocks of the training order (release) or a seeded permutation")
    p.add_argument("--partition-seed", type=int, default=0, help="seed of the random partition mode")
    _common_compute(p)
    p.set_defaults(func=cmd_train_surrogate)

    p = sub.add_parser("score", help="run a registered scorer → score file (index,score) + meta")
    p.add_argument("--method", required=True, help="registered scorer (see list-scorers)")
    p.add_argument("--name", default=None, help="variant name recorded in meta (default: method)")
    p.add_argument("--data", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--surrogate", nargs="*", default=[],
                   help="surrogate run folders, --surrogates-per-seed of them per seed, in seed order")
    p.add_argument("--surrogates-per-seed", type=int, default=1, help="K surrogate runs averaged per seed")
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="seed index(es); one job may score several")
    p.add_argument("--params", type=_json_arg, default={}, help="scorer parameters as JSON")
    p.add_argument("--out", nargs="+", required=True, help="score file(s) .../seed{s}.csv, one per seed")
    _common_compute(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("validate-scores", help="check a score file against the contract (length, finite, meta)")
    p.add_argument("--scores", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--check-hash", action="store_true", help="also require meta.dataset_sha256 to match")
    p.add_argument("--keep", default=None, choices=["high", "low"],
                   help="the direction the config declares: the meta's keep must be the same")
    p.add_argument("--keep-key", default=None, help="the config key of --keep, named in the error")
    p.add_argument("--stamp", default=None, help="write this file when valid (for Snakemake)")
    p.set_defaults(func=cmd_validate_scores)

    p = sub.add_parser("select", help="score file → kept indices per pruning ratio")
    p.add_argument("--scores", nargs="*", default=[], help="score file(s), one per --seed")
    p.add_argument("--full", action="store_true", help="write the full training set (ratio-0 reference)")
    p.add_argument("--labels", required=True)
    p.add_argument("--data", default=None,
                   help="prepared dataset folder: the score file's dataset_sha256 must match it (recommended)")
    p.add_argument("--dataset-meta", default=None,
                   help="the prepared dataset's meta.json: labels must be integers in 0..num_classes-1")
    p.add_argument("--strategy", default="keep", help="keep | keep_high | keep_low | classbal | ccs")
    p.add_argument("--keep", default=None, choices=["high", "low"], help="override the score file's direction")
    p.add_argument("--ratios", type=float, nargs="+", required=True, help="fractions removed")
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="selection seed per score file")
    p.add_argument("--params", type=_json_arg, default={}, help="strategy parameters as JSON")
    p.add_argument("--out", nargs="+", required=True, help="one .npy per seed × ratio (seed-major)")
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("solve", help="a solver method (optprune): score file + subsets for every ratio")
    p.add_argument("--method", required=True)
    p.add_argument("--name", default=None)
    p.add_argument("--data", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--surrogate", nargs="+", required=True, help="surrogate run folder(s), per seed")
    p.add_argument("--surrogates-per-seed", type=int, default=1)
    p.add_argument("--seed", type=int, nargs="+", default=[0])
    p.add_argument("--params", type=_json_arg, default={})
    p.add_argument("--ratios", type=float, nargs="+", required=True)
    p.add_argument("--scores", nargs="+", required=True, help="score file (influence norm), one per seed")
    p.add_argument("--out", nargs="+", required=True, help="subset .npy per seed × ratio (seed-major)")
    _common_compute(p)
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("retrain", help="train a target model on subsets (one per seed) → result JSON per seed")
    p.add_argument("--data", required=True, help="prepared data folder, e.g. data/digits")
    p.add_argument("--labels", required=True, help="training labels (labels.npz of the noise setting)")
    p.add_argument("--subset", nargs="+", required=True, help="subset .npy files (one per run)")
    p.add_argument("--seeds", type=int, nargs="+", required=True, help="the seed of each run")
    p.add_argument("--ratios", type=float, nargs="*", default=None, help="the ratio of each run (recorded)")
    p.add_argument("--out", nargs="+", required=True, help="result .json, one per run")
    p.add_argument("--target", required=True, help="model to train")
    p.add_argument("--recipe", type=_json_arg, default={}, help="training recipe as JSON (epochs, lr, ...)")
    p.add_argument("--model-kw", type=_json_arg, default={}, help="model keyword arguments as JSON")
    p.add_argument("--budget", default="epochs", type=_budget_arg,
                   help="epochs: same epochs as the recipe (default); steps: as many steps as full-data training; "
                        "x<k>: k times the recipe's epochs (x2: the convergence check)")
    p.add_argument("--keys", type=_keys_arg, default={},
                   help="path keys recorded in each result: one JSON object, or a list of one per run")
    _common_compute(p)
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("aggregate", help="retrain results → long table + mean/std summary")
    p.add_argument("--results", nargs="+", required=True)
    p.add_argument("--out", required=True, help="long table CSV (one row per run)")
    p.add_argument("--summary", required=True, help="summary CSV (mean, std, n per setting)")
    p.add_argument("--convergence", default=None,
                   help="tables/convergence.csv: adds each setting's regime (converged / not converged)")
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser("plot", help="accuracy-vs-ratio figure (PDF + PNG)")
    p.add_argument("--table", required=True, help="long table from aggregate")
    p.add_argument("--out-pdf", required=True)
    p.add_argument("--out-png", required=True)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("analyze", help="tables and figures from contract files (significance, ranks, cost, ...)")
    p.add_argument("kind", help="significance | ranks | cost | correlation | noisy_removed | crossarch | ...")
    p.add_argument("--in", dest="inputs", nargs="+", required=True, help="input files")
    p.add_argument("--out", nargs="+", required=True, help="KEY=PATH for each output")
    p.add_argument("--options", type=_json_arg, default={}, help="keyword options as JSON")
    p.set_defaults(func=cmd_analyze)

    sub.add_parser("snapshot", help="version results with DVC (snapshot, push): prunebench snapshot --help",
                   add_help=False)

    p = sub.add_parser("list-scorers", help="registered (and configured external) scorers")
    p.add_argument("--config", default=None, help="also list external_scorers from this config")
    p.add_argument("--protocols", action="store_true",
                   help="print the methods' release protocols as the README's Markdown table")
    p.set_defaults(func=cmd_list_scorers)

    p = sub.add_parser("check-config", help="check config file(s) as `snakemake -n` does, YAML errors with their line")
    p.add_argument("configfile", nargs="+", help="config files, in --configfile order")
    p.add_argument("--workflow", default="workflow", help="the workflow folder (default: workflow)")
    p.add_argument("--data-root", default="data", help="prepared datasets (default: data)")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("verify", help="check every contract file of a plan against its recorded sha256",
                       description="Check every contract file of the plan of the given config files (the default "
                       "config when none is given) against the sha256 its writer recorded, and .npz/.pt "
                       "archives by their zip CRCs; print the damaged and missing files and the "
                       "`snakemake --forcerun` line that rebuilds them. Exit 1 when any is damaged or missing.")
    p.add_argument("configfile", nargs="*", help="config files, in --configfile order (default: none)")
    p.add_argument("--root", default=".", help="the folder the run's paths are relative to (default: .)")
    p.add_argument("--workflow", default="workflow", help="the workflow folder (default: workflow)")
    p.add_argument("--data-root", default="data", help="prepared datasets (default: data)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("list-models", help="registered model names")
    p.set_defaults(func=cmd_list_models)
    return ap


def _exit_cleanly_on_signals() -> None:
    """SIGTERM (SLURM's time limit, scancel, Snakemake cancelling a job) and SIGHUP end Python without
    unwinding, which would leave an atomic write's temp file behind: turn them into SystemExit."""
    import signal

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


def _reserve_log_space(nbytes: int = 8192) -> None:
    """Reserve disk blocks for the job's log (stdout/stderr redirected to a file by the rule) without
    growing it, so the one-line error of a full disk can still be written there when another job took
    the last free block (Linux ``fallocate(FALLOC_FL_KEEP_SIZE)``; elsewhere nothing happens)."""
    import ctypes
    import ctypes.util
    import os
    import stat

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        for fd in (1, 2):
            if stat.S_ISREG(os.fstat(fd).st_mode):
                libc.fallocate(fd, 1, ctypes.c_longlong(0), ctypes.c_longlong(nbytes))  # 1: FALLOC_FL_KEEP_SIZE
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["snapshot"]:  # DVC versioning: its own parser (prunebench snapshot --help)
        from .snapshot import main as snapshot_main

        snapshot_main(argv[1:])
        return
    args = build_parser().parse_args(argv)
    _exit_cleanly_on_signals()
    _reserve_log_space()
    from .io import StorageError
    from .stages import StageError

    try:
        args.func(args)
    except StageError as exc:  # arguments that do not fit together: the message, exit status 1
        raise SystemExit(str(exc)) from None
    except (ValueError, FileNotFoundError, KeyError, RuntimeError, StorageError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"prunebench {args.cmd}: error: {msg}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

"""The pipeline stages behind ``prunebench``'s subcommands: check a job's inputs, run the
package's functions seed by seed, write the contract files and print one line per output (the
job's log). :mod:`prunebench.cli` only parses the arguments and calls one of these.

:class:`StageError`: arguments that do not fit together (seeds vs outputs, a score file that
breaks the contract, ...); the command line prints its message and exits with status 1.

Every import but the standard library's is inside the function that needs it (``import torch``
alone costs ~2 s), so cheap stages stay cheap.
"""

from __future__ import annotations

import time
from pathlib import Path


class StageError(Exception):
    """A stage's arguments or inputs do not fit together; the message says how."""


def per_seed(seeds, surrogates, k: int, outs) -> list[tuple[int, list[str], str]]:
    """Pair each seed with its surrogate folders (``k`` each, seed-major) and its output."""
    if len(outs) != len(seeds):
        raise StageError(f"{len(seeds)} seeds but {len(outs)} outputs")
    if surrogates and len(surrogates) != k * len(seeds):
        raise StageError(f"--surrogate: expected {k} folder(s) per seed × {len(seeds)} seeds, got {len(surrogates)}")
    return [(seed, surrogates[i * k : (i + 1) * k] if surrogates else [], out)
            for i, (seed, out) in enumerate(zip(seeds, outs))]


def _timing(path: Path, t0: float) -> None:
    """A scorer's/trainer's own compute time (no start-up) and peak RSS; never in contract files."""
    import resource

    from . import io

    io.write_json(path, {"seconds": round(time.perf_counter() - t0, 3),
                         "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})


def noise(data, spec: str, seed: int, out) -> None:
    """``labels.npz`` of ``data``'s training set with seeded label noise ``spec`` (clean | symNN | asymNN)."""
    from .data import load_dataset
    from .data.labels import save_labels
    from .data.noise import inject_noise, parse_noise

    kind, rate = parse_noise(spec)
    ds = load_dataset(data)  # checks every array against the sha256 recorded when it was prepared
    y, flipped = inject_noise(ds.y_train, ds.num_classes, kind, rate, seed)
    save_labels(out, y, flipped, noise=spec, seed=seed)
    print(f"{spec}: flipped {int(flipped.sum())} of {len(y)} labels (seed {seed}) → {out}")


def surrogate(data, labels, out, arch: str, recipe: dict, seed: int, *, T: int, sampling: str, save_epochs,
              eval_pass: bool, partitions: int, partition_mode: str, partition_seed: int, model_kw: dict,
              device: str, threads: int, progress: bool) -> None:
    """One surrogate run (or ``partitions`` of them, one per partition) and its timing sidecar."""
    from .data.labels import check_labels_file
    from .train.surrogate import train_partitioned, train_surrogate

    check_labels_file(labels, data)
    t0 = time.perf_counter()
    kw = dict(T=T, sampling=sampling, save_epochs=save_epochs, threads=threads, model_kw=model_kw,
              progress=progress, eval_pass=eval_pass)
    if partitions > 1:
        metas = train_partitioned(data, labels, out, arch, recipe, seed, partitions, partition_mode, partition_seed,
                                  device=device, **kw)
    else:
        metas = [train_surrogate(data, labels, out, arch, recipe, seed, device, **kw)]
    _timing(Path(out) / "surrogate.timing.json", t0)
    for meta in metas:
        part = f" partition {meta['partition']['index']}/{partitions}" if "partition" in meta else ""
        print(f"surrogate {arch} seed{seed}{part}: {meta['n']} samples, {meta['steps']} steps, "
              f"train acc {meta['final_train_acc']:.3f}")


def score(method: str, name: str | None, data, labels, surrogates, k: int, seeds, params: dict, outs, *,
          device: str, threads: int, progress: bool) -> None:
    """A registered scorer, one score file (and timing sidecar) per seed."""
    from . import scorefile
    from .data.contract import dataset_sha256
    from .data.labels import check_labels_file
    from .scorers import ScoreContext, get_scorer
    from .train.device import seed_numpy

    info = get_scorer(method)
    params = {**info.defaults, **params}
    if info.needs_surrogate:
        import torch  # noqa: F401  (start-up, not the scorer's compute: kept out of the timing sidecar)
    ds_hash = dataset_sha256(data)
    check_labels_file(labels, data)
    for seed, runs, out in per_seed(seeds, surrogates, k, outs):
        seed_numpy(seed)  # torch is seeded where a scorer first asks for ctx.device
        ctx = ScoreContext(data, labels, runs, seed=seed, device=device, threads=threads, progress=progress)
        t0 = time.perf_counter()
        scores = info.fn(ctx, **params)
        if len(scores) != ctx.n:
            raise StageError(f"scorer {method} returned {len(scores)} scores for {ctx.n} samples")
        scorefile.write(out, scores, method=method, keep=info.keep, params=params, dataset_sha256=ds_hash,
                        extra={"name": name or method, "seed": seed})
        _timing(Path(str(out)[: -len(".csv")] + ".timing.json"), t0)
        print(f"{name or method} seed{seed}: {ctx.n} scores → {out}")


def validate_scores(scores, data, check_hash: bool = False, keep: str | None = None, keep_key: str | None = None,
                    stamp=None) -> None:
    """An external program's score file against the contract (and the direction the config declares);
    ``stamp`` is written when it is valid."""
    from . import io, scorefile
    from .data.contract import dataset_sha256

    meta = io.read_json(Path(data) / "meta.json")
    try:
        _, smeta = scorefile.read(scores, n=meta["n_train"], dataset_sha256=dataset_sha256(data) if check_hash else None)
        scorefile.check_keep(scores, smeta, keep, keep_key)
    except scorefile.ScoreFileError as exc:
        raise StageError(f"invalid score file: {exc}") from None
    if stamp:
        io.write_text(stamp, "ok\n")
    print(f"{scores}: valid ({meta['n_train']} rows)")


def select(labels, outs, ratios, scores=(), seeds=(0,), *, full: bool = False, data=None, dataset_meta=None,
           strategy: str = "keep", keep: str | None = None, params: dict | None = None) -> None:
    """Score files → kept indices for every ratio (``outs`` seed-major); ``full``: the whole training set."""
    import numpy as np

    from . import scorefile
    from .data.contract import dataset_sha256
    from .data.labels import read_labels
    from .select import save_subset
    from .select import select as select_kept

    y = read_labels(labels, dataset_meta or (Path(data) / "meta.json" if data else None))
    if full:
        for out in outs:
            save_subset(out, np.arange(len(y), dtype=np.int64), y, {"strategy": "all"})
        return
    R = len(ratios)
    if len(scores) != len(seeds) or len(outs) != R * len(seeds):
        raise StageError(f"need one --scores per --seed and {R} --out per seed (seed-major)")
    ds_hash = dataset_sha256(data) if data else None
    try:  # every seed's file, before any subset is written
        read = scorefile.read_all(scores, n=len(y), dataset_sha256=ds_hash)
    except scorefile.ScoreFileError as exc:
        raise StageError(f"invalid score file: {exc}") from None
    for i, (seed, (s, meta)) in enumerate(zip(seeds, read)):
        direction = keep or meta["keep"]
        for ratio, out in zip(ratios, outs[i * R : (i + 1) * R]):
            kept = select_kept(s, direction, ratio, strategy, y=y, seed=seed, **(params or {}))
            save_subset(out, kept, y, {"strategy": strategy, "keep": direction})
            print(f"{strategy} seed{seed} r{ratio:.2f}: kept {len(kept)}/{len(y)} → {out}")


def solve(method: str, name: str | None, data, labels, surrogates, k: int, seeds, params: dict, ratios, scores,
          outs, *, device: str, threads: int, progress: bool) -> None:
    """A solver method: its state once per seed (optprune: the influence) → score file + one subset
    per ratio (``outs`` seed-major), with timing sidecars."""
    from . import io, scorefile
    from .data.contract import dataset_sha256
    from .data.labels import check_labels_file
    from .scorers import ScoreContext, get_scorer
    from .select import save_subset
    from .train import set_determinism

    info = get_scorer(method)
    if info.solver is None:
        raise StageError(f"{method} is not a solver method")
    params = {**info.defaults, **params}
    R = len(ratios)
    if len(outs) != R * len(seeds):
        raise StageError(f"--out: expected {R} subsets per seed × {len(seeds)} seeds, got {len(outs)}")
    ds_hash = dataset_sha256(data)
    check_labels_file(labels, data)
    for i, (seed, runs, scores_out) in enumerate(per_seed(seeds, surrogates, k, scores)):
        set_determinism(seed, threads)
        ctx = ScoreContext(data, labels, runs, seed=seed, device=device, threads=threads, progress=progress)
        t0 = time.perf_counter()
        state = info.solver.prepare(ctx, **params)
        scorefile.write(scores_out, info.solver.scores(state, **params), method=method, keep=info.keep,
                        params=params, dataset_sha256=ds_hash,
                        extra={"name": name or method, "seed": seed, "score": info.solver.score_name})
        subsets = info.solver.solve(ctx, ratios, state, **params)
        timings = {}
        for ratio, out in zip(ratios, outs[i * R : (i + 1) * R]):
            kept, meta = subsets[float(ratio)]
            timings[f"r{ratio:.2f}"] = meta.pop("timing", {})
            save_subset(out, kept, ctx.y, meta)
            print(f"{method} seed{seed} r{ratio:.2f}: kept {len(kept)}/{ctx.n}, status {meta.get('status')}, "
                  f"gap {meta.get('gap')}")
        _timing(Path(str(scores_out)[: -len(".csv")] + ".timing.json"), t0)
        io.write_json(str(scores_out)[: -len(".csv")] + ".solver.timing.json", timings)


def retrain(data, labels, subsets, outs, target: str, recipe: dict, seeds, keys, ratios=None, *, device: str,
            threads: int, model_kw: dict, budget: str, progress: bool) -> None:
    """``target`` trained on each subset (one seed each) → one result JSON per run."""
    from .data.labels import check_labels_file
    from .retrain import retrain_many

    ratios = ratios or [None] * len(seeds)
    if len(ratios) != len(seeds):
        raise StageError("--ratios needs one entry per --seeds entry")
    check_labels_file(labels, data)
    retrain_many(data, labels, subsets, outs, target, recipe, seeds, keys, device=device, threads=threads,
                 model_kw=model_kw, budget=budget, progress=progress, ratios=ratios)

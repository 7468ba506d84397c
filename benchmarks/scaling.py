"""Does every scorer's cost grow linearly in n? Each registered scorer timed at n and 2n, in one run.

Fashion-MNIST training subsets of n and 2n images (the real images, ``prunebench fetch``: the Debian
package's files or a torchvision download), one cnn_small surrogate each (the same recipe), then every
registered scorer run as the rules run it: ``prunebench score`` in its own process, one seed. Two
costs per scorer and size: the scorer's own compute (its ``.timing.json`` sidecar: CPU seconds inside the
call, wall with one torch thread, without the process start) and the whole process (CPU seconds of the child, start-up included).
The ratio cost(2n) / cost(n) is 2 for a linear method; k-center's greedy order is O(n·k), so with
``budget`` = a fraction of n it is quadratic (ratio 4) unless ``budget`` is a fixed count; herding is
O(n·k) per class likewise. The exponent log2(ratio) is printed beside each ratio.

    python benchmarks/scaling.py                 # n = 5000 and 10000
    python benchmarks/scaling.py --n 10000       # 10000 and 20000

Each (scorer, size) runs ``--repeat`` times (default 3), the sizes interleaved (n, 2n, n, 2n, …), and the
minimum is kept: on a shared machine the time of one forward batch swings by ±25 % from one second to the
next, which a single pair of runs turns into a ratio anywhere from 1.5 to 2.3.

``moso_exact`` (one retraining per sample, n <= 64) is left out. ``optprune``'s score file (influence
norms) is timed here; its subset program (``prunebench solve``) is benchmarked in
``benchmarks/optprune_cost.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

#: parameters that fit the benchmark's surrogate (6 epochs, T = 5, a checkpoint at epoch 2)
PARAMS = {"dynunc": {"J": 2}, "el2n": {"epoch": 2}, "grand": {"epoch": 2}, "moso": {"T": 5}}
LEFT_OUT = {"moso_exact": "one retraining per sample (n <= 64)"}
RECIPE = {"epochs": 6, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005,
          "schedule": "cosine", "channels_last": True}


def _run(cmd: list[str]) -> float:
    """Run a command; return the CPU seconds (user + system) of the child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare(root: Path, n: int, threads: int) -> tuple[Path, Path, Path]:
    data, labels, run = root / f"data{n}", root / f"labels{n}.npz", root / f"sur{n}"
    pb = [sys.executable, "-m", "prunebench.cli"]
    _run(pb + ["fetch", "--dataset", "fashion_mnist", "--out", str(data), "--options",
               json.dumps({"n_train": n, "subset_seed": 0})])
    _run(pb + ["noise", "--data", str(data), "--noise", "clean", "--out", str(labels)])
    _run(pb + ["train-surrogate", "--data", str(data), "--labels", str(labels), "--arch", "cnn_small", "--seed", "0",
               "--out", str(run), "--recipe", json.dumps(RECIPE), "--model-kw", json.dumps({"width": 8}),
               "--T", "5", "--save-epochs", "2", "--threads", str(threads), "--no-progress"])
    return data, labels, run


def score(method: str, data: Path, labels: Path, run: Path, out: Path, threads: int) -> tuple[float, float]:
    """(compute seconds from the timing sidecar, process CPU seconds) of one scorer."""
    cmd = [sys.executable, "-m", "prunebench.cli", "score", "--method", method, "--data", str(data), "--labels",
           str(labels), "--surrogate", str(run), "--seed", "0", "--params", json.dumps(PARAMS.get(method, {})),
           "--out", str(out), "--threads", str(threads), "--no-progress", "--device", "cpu"]
    proc_cpu = _run(cmd)
    timing = json.loads(Path(str(out)[: -len(".csv")] + ".timing.json").read_text())
    return float(timing["seconds"]), proc_cpu


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="the smaller training-set size (the other is 2n)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="*", help="time only these scorers")
    ap.add_argument("--repeat", type=int, default=3, help="runs per (scorer, size), sizes interleaved; the minimum "
                                                          "is kept (default 3)")
    ap.add_argument("--marginal", action="store_true",
                    help="also time n/2 and print the marginal ratio (c(2n) − c(n)) / (c(n) − c(n/2)): 2 for a linear "
                         "cost whatever its fixed part, 4 for a quadratic one")
    args = ap.parse_args(argv)

    from prunebench.scorers import list_scorers

    names = [s.name for s in list_scorers() if s.name not in LEFT_OUT and (not args.only or s.name in args.only)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="prunebench-scaling-") as tmp:
        root = Path(tmp)
        sizes = ((args.n // 2,) if args.marginal else ()) + (args.n, 2 * args.n)
        prepared = {n: prepare(root, n, args.threads) for n in sizes}
        print(f"Fashion-MNIST, n = {', '.join(map(str, sizes))}; cnn_small width 8 surrogate, {RECIPE['epochs']} "
              f"epochs; torch threads {args.threads}; each scorer in its own process")
        for name in names:
            runs = {n: [] for n in sizes}
            for _ in range(max(1, args.repeat)):
                for n in sizes:
                    runs[n].append(score(name, *prepared[n], root / f"{name}{n}" / "seed0.csv", args.threads))
            cost = {n: (min(c for c, _ in runs[n]), min(p for _, p in runs[n])) for n in sizes}
            half = cost[sizes[0]][0] if args.marginal else math.nan
            rows.append((name, cost[args.n], cost[2 * args.n], half))
            print(f"  {name}: " + " → ".join(f"{cost[n][0]:.2f} s" for n in sizes), flush=True)
    print(f"\n{'scorer':18s} {'compute n':>10s} {'compute 2n':>11s} {'ratio':>6s} {'exponent':>9s} "
          f"{'marginal':>9s} {'process n':>10s} {'process 2n':>11s} {'ratio':>6s}")
    for name, (ca, pa), (cb, pb), ch in rows:
        r, rp = cb / ca if ca > 0 else math.nan, pb / pa if pa > 0 else math.nan
        mr = (cb - ca) / (ca - ch) if ca > ch else math.nan
        print(f"{name:18s} {ca:10.2f} {cb:11.2f} {r:6.2f} {math.log2(r) if r > 0 else math.nan:9.2f} {mr:9.2f} "
              f"{pa:10.2f} {pb:11.2f} {rp:6.2f}")
    print(f"\ncompute = seconds inside the scorer (its timing sidecar; one torch thread); process = the child's CPU "
          f"seconds, start-up (import torch, data loading) included; each the minimum over {max(1, args.repeat)} "
          "runs. Linear: ratio 2.0 ± 0.3 (exponent ≈ 1).")
    print("Left out: " + "; ".join(f"{k} ({v})" for k, v in LEFT_OUT.items()))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

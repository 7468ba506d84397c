"""Peak resident memory of each scorer on a 60k-sample, 1×28×28 uint8 dataset (Fashion-MNIST size).

1. A synthetic dataset in the data contract (``prunebench.data.contract.prepare`` of a dataset
   registered here: ``train.npz``/``test.npz``/``meta.json``): ``--n`` training and ``--n-test``
   test images, uint8, 10 classes, each image = its class's smooth template + noise (so the
   surrogate learns something), labels file ``labels.npz`` (clean).
2. ``prunebench train-surrogate`` (cnn_small, ``--epochs`` epochs, batch 256, T=2 sampled
   checkpoints, no epoch checkpoints) — measured too.
3. Each scorer in its own ``prunebench score`` / ``prunebench solve`` process, exactly as the
   Snakemake rules run them (``--threads 1``, device cpu). Peak RSS is the child's ``ru_maxrss``
   from ``os.wait4`` (the kernel's high-water mark of that process, start-up and imports included);
   seconds are wall time of the process (start-up ~3-8 s on this machine included).

    python benchmarks/peak_rss.py                       # n = 60000, 3 surrogate epochs
    python benchmarks/peak_rss.py --n 20000 --out peak_rss.json

DynUnc needs J ≤ epochs − 1 (the last epoch is left out): with ``--epochs 3`` it runs with J=2;
with ``--epochs`` < 3 it is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from prunebench import io
from prunebench.data.base import register_dataset
from prunebench.data.contract import prepare

CLASSES = 10


def synthetic_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n,1,28,28) uint8 images and int64 labels: a per-class low-frequency template plus noise."""
    rng = np.random.default_rng(seed)
    coarse = np.random.default_rng(1234).uniform(0, 255, (CLASSES, 7, 7))
    templates = np.kron(coarse, np.ones((4, 4)))  # (10, 28, 28), the same for train and test
    y = rng.integers(0, CLASSES, n).astype(np.int64)
    x = np.empty((n, 1, 28, 28), np.uint8)
    for s in range(0, n, 5000):  # chunks keep the float temporaries small
        e = min(n, s + 5000)
        noise = rng.normal(0, 60, (e - s, 28, 28))
        x[s:e, 0] = np.clip(templates[y[s:e]] + noise, 0, 255).astype(np.uint8)
    return x, y


def make_dataset(out: Path, n: int, n_test: int) -> Path:
    name = f"peak_rss_synthetic_{n}"

    @register_dataset(name)
    def _synthetic(source=None, **_):
        xtr, ytr = synthetic_images(n, seed=0)
        xte, yte = synthetic_images(n_test, seed=1)
        return xtr, ytr, xte, yte, {"source": f"benchmarks/peak_rss.py synthetic (n={n})"}

    data = out / "data" / "synthetic"
    prepare(name, data)
    y = io.load_npz(data / "train.npz")["y"]
    io.save_npz(out / "labels.npz", y=y, flipped=np.zeros(len(y), bool))
    return data


def measure(cmd: list[str], log: Path) -> dict:
    """Run ``cmd``; its wall seconds and peak RSS (MiB) from the kernel's rusage of that child."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": proc.returncode, "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mib": round(ru.ru_maxrss / 1024, 1), "log": str(log)}


def scorer_jobs(args, data: Path, labels: Path, run: Path, out: Path) -> dict[str, list[str]]:
    common = ["--data", str(data), "--labels", str(labels), "--surrogate", str(run), "--seed", "0",
              "--device", "cpu", "--threads", "1", "--no-progress"]

    def score(method, params):
        return ["prunebench", "score", "--method", method, "--params", json.dumps(params),
                "--out", str(out / "scores" / method / "seed0.csv"), *common]

    jobs = {
        "el2n": score("el2n", {"epoch": 1}),
        "forgetting": score("forgetting", {}),
        "entropy": score("entropy", {}),
        "kcenter": score("kcenter", {"budget": args.kcenter_budget}),
        "moso": score("moso", {"T": 2}),
        "optprune": ["prunebench", "solve", "--method", "optprune", "--ratios", "0.3",
                     "--scores", str(out / "scores" / "optprune" / "seed0.csv"),
                     "--out", str(out / "subsets" / "optprune" / "r0.30" / "seed0.npy"), *common],
    }
    if args.epochs >= 3:
        jobs["dynunc"] = score("dynunc", {"J": args.epochs - 1})
    return {k: v for k, v in jobs.items() if not args.only or k in args.only}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=60000, help="training samples (default 60000)")
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3, help="surrogate epochs (dynunc needs ≥ 3)")
    ap.add_argument("--kcenter-budget", type=float, default=0.02, help="k-center picks, fraction of n")
    ap.add_argument("--only", nargs="*", default=None, help="a subset of the scorers")
    ap.add_argument("--work", default=None, help="work folder (default: a new temp folder)")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    a = ap.parse_args(argv)

    work = Path(a.work or tempfile.mkdtemp(prefix="prunebench-rss-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    data = make_dataset(work, a.n, a.n_test)
    print(f"dataset: {a.n} × 1×28×28 uint8 in {time.perf_counter() - t0:.1f} s → {data}", flush=True)
    labels, run = work / "labels.npz", work / "surrogate" / "seed0"
    results = {}
    recipe = {"epochs": a.epochs, "batch_size": 256, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
              "schedule": "cosine"}
    results["train-surrogate"] = measure(
        ["prunebench", "train-surrogate", "--data", str(data), "--labels", str(labels), "--arch", "cnn_small",
         "--seed", "0", "--out", str(run), "--recipe", json.dumps(recipe), "--T", "2", "--device", "cpu",
         "--threads", "1", "--no-progress"], work / "logs" / "train-surrogate.log")
    print(_row("train-surrogate", results["train-surrogate"]), flush=True)
    if results["train-surrogate"]["rc"] != 0:
        print((work / "logs" / "train-surrogate.log").read_text()[-3000:])
        return 1
    for name, cmd in scorer_jobs(a, data, labels, run, work).items():
        results[name] = measure(cmd, work / "logs" / f"{name}.log")
        print(_row(name, results[name]), flush=True)
        if results[name]["rc"] != 0:
            print(Path(results[name]["log"]).read_text()[-2000:])
    info = {"n": a.n, "shape": [1, 28, 28], "dtype": "uint8", "surrogate": "cnn_small", "epochs": a.epochs,
            "T": 2, "threads": 1, "results": results}
    print("\n| job | peak RSS (MiB) | seconds (wall, start-up incl.) |\n|---|---:|---:|")
    for k, r in results.items():
        print(f"| {k} | {r['peak_rss_mib']:.0f} | {r['seconds']:.0f} |" + ("" if r["rc"] == 0 else " FAILED"))
    if a.out:
        io.write_json(a.out, info)
    return 0 if all(r["rc"] == 0 for r in results.values()) else 1


def _row(name: str, r: dict) -> str:
    return f"{name:<16} rc={r['rc']}  {r['peak_rss_mib']:>8.1f} MiB  {r['seconds']:>7.1f} s"


if __name__ == "__main__":
    sys.exit(main())
